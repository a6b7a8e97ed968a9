"""The files of a simulated sample: subject files, the two export CSVs and ``truth.json``.

Per subject, the frame-0 difference JSON, frame-1 PNG and frame-2 model JSON of
``subjects/<subject_id>/`` and the fit target of ``fitting-metadata/<subject_id>.json``
(spec §2.4); for the sample, ``subjects.csv`` and ``classifications.csv`` from the rows of
:mod:`gzbcat.simulate.records`, and ``truth.json``.
"""

from __future__ import annotations

import csv
import json
import math
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from gzbcat.simulate.records import CANVAS_PX, CLASSIFICATION_COLUMNS, SUBJECT_COLUMNS
from gzbcat.simulate.reference import HartPitch
from gzbcat.simulate.setups import ImageSetup
from gzbcat.simulate.truth import Observation

__all__ = [
    "subject_truth",
    "write_classification_export",
    "write_subject_export",
    "write_subject_files",
    "write_truth",
]


def _png(image: np.ndarray) -> bytes:
    """The frame-1 PNG shown to volunteers: asinh-stretched, 512 px wide, origin at the bottom.

    Spec §3.1: normalise to [0, 1], stretch ``asinh(x/0.1)/asinh(1/0.1)``, flip so that PNG
    row r shows cutout row H−1−r, resize to 512 × int(H/W·512) (cubic spline here, Lanczos
    in the original). Written with zlib by hand: no imaging library is needed.
    """
    low, high = float(np.min(image)), float(np.max(image))
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    stretched = np.arcsinh(scaled / 0.1) / math.asinh(1 / 0.1)
    height, width = image.shape
    out_w, out_h = CANVAS_PX, int(height / width * CANVAS_PX)
    resized = ndimage.zoom(stretched[::-1], (out_h / height, out_w / width), order=3)
    pixels = np.clip(np.round(resized * 255), 0, 255).astype(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", pixels.shape[1], pixels.shape[0], 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def _rounded(array: np.ndarray, digits: int = 7) -> list[Any]:
    """An array as nested lists of floats rounded to ``digits`` decimals (far below the noise,
    and files a third smaller)."""
    return np.round(array, digits).tolist()


def write_subject_files(
    outdir: Path, subject_id: int, observation: Observation, setup: ImageSetup
) -> list[str]:
    """The frame-0 difference JSON, frame-1 PNG, frame-2 model JSON and fitting metadata."""
    height, width = setup.shape
    canvas_height = int(height / width * CANVAS_PX)
    folder = outdir / "subjects" / str(subject_id)
    folder.mkdir(parents=True, exist_ok=True)
    psf = setup.psf.tolist()
    shown = np.where(setup.mask, 0.0, observation.image)
    difference = {
        "psf": psf,
        "psfWidth": setup.psf.shape[1],
        "psfHeight": setup.psf.shape[0],
        "mask": setup.mask.astype(int).tolist(),
        "imageData": _rounded(shown),
        "multiplier": setup.multiplier,
        "width": width,
        "height": height,
        "imageWidth": CANVAS_PX,
        "imageHeight": canvas_height,
    }
    model_file = {
        "psf": psf,
        "psfWidth": setup.psf.shape[1],
        "psfHeight": setup.psf.shape[0],
        "width": width,
        "height": height,
        "imageWidth": CANVAS_PX,
        "imageHeight": canvas_height,
    }
    (folder / "difference.json").write_text(json.dumps(difference))
    (folder / "model.json").write_text(json.dumps(model_file))
    (folder / "image.png").write_bytes(_png(shown))
    metadata_dir = outdir / "fitting-metadata"
    metadata_dir.mkdir(parents=True, exist_ok=True)
    fitting = {
        "psf": psf,
        "pixel_mask": (~setup.mask).tolist(),
        # NaN at excluded pixels, as in the real files (json writes NaN; the reader accepts it)
        "galaxy_data": _rounded(np.where(setup.mask, np.nan, observation.image)),
        "sigma_image": _rounded(np.where(setup.mask, np.nan, observation.sigma), 8),
        "size_diff": width / CANVAS_PX,
        "multiplier": setup.multiplier,
        "rotation_correction": 0.0,
    }
    (metadata_dir / f"{subject_id}.json").write_text(json.dumps(fitting))
    relative = f"subjects/{subject_id}"
    return [
        f"{relative}/difference.json",
        f"{relative}/image.png",
        f"{relative}/model.json",
        f"fitting-metadata/{subject_id}.json",
    ]


def write_subject_export(outdir: Path, rows: Iterable[Sequence[Any]]) -> str:
    """Write ``subjects.csv`` from rows of :func:`~gzbcat.simulate.records.subject_row`."""
    return _write_csv(outdir, "subjects.csv", SUBJECT_COLUMNS, rows)


def write_classification_export(outdir: Path, rows: Iterable[Sequence[Any]]) -> str:
    """Write ``classifications.csv`` from rows of
    :func:`~gzbcat.simulate.records.classification_row`, each led by its classification id."""
    return _write_csv(outdir, "classifications.csv", CLASSIFICATION_COLUMNS, rows)


def _write_csv(
    outdir: Path, name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> str:
    with (outdir / name).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return name


def subject_truth(
    observation: Observation, setup: ImageSetup, hart_pitch: HartPitch | None = None
) -> dict[str, Any]:
    """One subject's entry of ``truth.json`` without its classifications: the true model
    (image frame, fit-target units), the image it was observed in and, when its arms took
    a real galaxy's pitch angle, that Hart et al. (2017) value (``pitch_reference``)."""
    height, width = setup.shape
    entry: dict[str, Any] = {
        "model": observation.model.to_dict(),
        "image": {
            "width": width,
            "height": height,
            "setup": setup.source,
            "sky_sigma": observation.sky_sigma,
            "source_variance": observation.source_variance,
            "multiplier": setup.multiplier,
            "psf": setup.psf.tolist(),
        },
    }
    if hart_pitch is not None:
        entry["pitch_reference"] = {
            "dr7objid": hart_pitch.dr7objid,
            "pitch_angle_deg": hart_pitch.pitch_angle_deg,
            "column": hart_pitch.column,
        }
    return entry


def write_truth(
    outdir: Path,
    *,
    seed: int,
    galaxies: int,
    volunteers: int,
    junk_fraction: float,
    real_images: bool,
    subjects: Mapping[str, Any],
    pitch_table: str | None = None,
) -> str:
    """Write ``truth.json``: how the sample was made, and per subject (keyed by its id) the
    :func:`subject_truth` entry with ``classifications``, the notes of each keyed by its id.

    ``pitch_table`` names the table real pitch angles came from (the key is left out
    without one, so such samples stay byte-identical to earlier ones)."""
    document = {
        "generator": "gzbcat.simulate",
        "seed": seed,
        "galaxies": galaxies,
        "volunteers": volunteers,
        "junk_fraction": junk_fraction,
        "image_source": "real" if real_images else "builtin",
        "frame": "image: x = column, y = row, pixel centres at integers (DESIGN §6)",
        "intensity_units": "fit target: the cutout divided by its multiplier",
        "subjects": subjects,
    }
    if pitch_table is not None:
        document["pitch_table"] = pitch_table
    (outdir / "truth.json").write_text(json.dumps(document, separators=(",", ":")))
    return "truth.json"
