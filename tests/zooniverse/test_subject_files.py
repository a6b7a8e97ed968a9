"""Tests of the subject-file readers (difference JSON, fitting metadata) and σ estimation.

Data and tolerances:

- The 50 real difference files in ``../shared/data/galaxy-builder/subjects`` are read and
  compared with an independent ``json.load`` of the same file: the image and mask must match
  exactly; the PSF must sum to 1 within 1e-12 (it is renormalised; the files sum to
  1 ± 1e-7).
- ``estimate_sigma`` is checked on synthetic images from seeded generators: an exponential
  disk plus a de Vaucouleurs bulge on 135×135 pixels with N(0, 0.02) noise. The background σ
  must be within 10 % of 0.02 in the median and for 95 % of the sky pixels (we measure at
  most 3.3 % in the median over 20 seeds). With a Poisson-like source term of known scale the σ in
  the core must be within 25 % (the slope is estimated from a few thousand pixels).
- Fitting-metadata files are synthetic, written into ``tmp_path`` in the spec §2.4 layout.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gzbcat.model import SubjectImage
from gzbcat.zooniverse.subject_files import (
    SubjectFileError,
    estimate_sigma,
    read_difference_file,
    read_fitting_metadata,
    subject_id_from_filename,
    validate_psf,
)

NOISE = 0.02
SIZE = 135


def _galaxy(size: int = SIZE) -> np.ndarray:
    """A smooth galaxy-like profile: exponential disk (h = 9 px) + de Vaucouleurs bulge."""
    y, x = np.mgrid[:size, :size]
    r = np.hypot(x - size // 2, y - size // 2)
    return np.exp(-r / 9.0) + 0.5 * np.exp(-7.669 * ((r / 3.0) ** 0.25 - 1.0))


def _gaussian_psf(size: int = 11, width: float = 1.5) -> np.ndarray:
    offsets = np.arange(size) - size // 2
    psf = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * width**2))
    return psf / psf.sum()


# --------------------------------------------------------------------- real files


@pytest.fixture(scope="module")
def difference_files(galaxy_builder_dir: Path) -> list[tuple[int, Path]]:
    folders = sorted(p for p in (galaxy_builder_dir / "subjects").iterdir() if p.is_dir())
    files = [(int(p.name), p / "difference.json") for p in folders]
    assert len(files) == 50
    return files


def test_real_difference_files(difference_files: list[tuple[int, Path]]) -> None:
    started = time.perf_counter()
    images = [read_difference_file(path, subject_id=sid) for sid, path in difference_files]
    elapsed = time.perf_counter() - started
    assert elapsed < 10.0, f"reading 50 difference files took {elapsed:.1f} s"

    for (subject_id, path), subject in zip(difference_files, images, strict=True):
        raw = json.loads(path.read_text())
        assert isinstance(subject, SubjectImage)
        assert subject.image.dtype == np.float64
        assert subject.image.shape == (raw["height"], raw["width"]), subject_id
        assert (subject.height, subject.width) == (raw["height"], raw["width"])
        # Mask polarity: the file's 1 = excluded, SubjectImage's True = excluded.
        raw_mask = np.array(raw["mask"])
        assert subject.mask.dtype == bool
        assert subject.mask.shape == subject.image.shape
        np.testing.assert_array_equal(subject.mask, raw_mask == 1)
        assert subject.mask.mean() == pytest.approx((raw_mask == 1).mean(), abs=0)
        np.testing.assert_array_equal(
            subject.image[~subject.mask], np.array(raw["imageData"])[raw_mask == 0]
        )
        assert np.all(subject.image[subject.mask] == 0.0)
        k = subject.psf.shape[0]
        assert subject.psf.shape == (k, k) and k % 2 == 1
        assert (k, k) == (raw["psfHeight"], raw["psfWidth"])
        assert subject.psf.dtype == np.float64
        assert abs(subject.psf.sum() - 1.0) < 1e-12
        assert subject.sigma is not None
        assert subject.sigma.shape == subject.image.shape
        assert np.all(np.isfinite(subject.sigma)) and np.all(subject.sigma > 0)
        assert subject.sigma_source == "estimated"
        assert (subject.canvas_width, subject.canvas_height) == (512, 512)
        assert subject.multiplier == pytest.approx(raw["multiplier"])
        assert subject.rotation_correction == 0.0
        # σ is never below the sky σ, which is what the masked pixels hold.
        sky = float(np.min(subject.sigma))
        assert np.all(subject.sigma[subject.mask] == pytest.approx(sky))


def test_real_sky_sigma_agrees_with_an_independent_corner_estimate(
    difference_files: list[tuple[int, Path]],
) -> None:
    """Sky σ vs the plain standard deviation of unmasked corner pixels, 3σ-clipped once.

    Real SDSS noise is correlated between neighbouring pixels, so this is the only check of
    the real noise level; the corners (12 % of each side) hold little galaxy light. The
    tolerance is 25 % (measured −15 %…+17 %): corners of small cutouts still hold galaxy
    outskirts and faint neighbours.
    """
    ratios = []
    for subject_id, path in difference_files:
        subject = read_difference_file(path, subject_id=subject_id)
        n = subject.width
        c = max(8, int(0.12 * n))
        corners = np.concatenate(
            [
                block[~mask_block].ravel()
                for block, mask_block in (
                    (subject.image[:c, :c], subject.mask[:c, :c]),
                    (subject.image[:c, -c:], subject.mask[:c, -c:]),
                    (subject.image[-c:, :c], subject.mask[-c:, :c]),
                    (subject.image[-c:, -c:], subject.mask[-c:, -c:]),
                )
            ]
        )
        std = corners.std()
        corners = corners[np.abs(corners - np.median(corners)) < 3 * std]
        ratios.append(float(np.min(subject.sigma)) / float(corners.std()))
    ratios_array = np.array(ratios)
    assert np.median(ratios_array) == pytest.approx(1.0, abs=0.1)
    assert np.all(np.abs(ratios_array - 1.0) < 0.25), ratios_array.round(2)


# ---------------------------------------------------------------------- validate_psf


@pytest.mark.parametrize(
    ("psf", "message"),
    [
        (np.ones((10, 10)), r"psf is 10×10: a PSF must have an odd size"),
        (np.ones((0, 0)), r"psf is empty"),
        (np.ones((11, 9)), r"psf is 11×9: a PSF must be square"),
        (np.ones(11), r"psf has 1 dimension\(s\)"),
        (np.zeros((11, 11)), r"psf sums to 0: a PSF must have a positive sum"),
        (-_gaussian_psf(), r"psf sums to -1: a PSF must have a positive sum"),
        (
            np.where(np.eye(11, dtype=bool), np.nan, _gaussian_psf()),
            r"psf has 11 non-finite value\(s\)",
        ),
        ([[1.0, 2.0], [3.0]], r"psf is not a numeric 2-D array"),
    ],
    ids=["even", "empty", "non-square", "1-d", "zero-sum", "negative-sum", "nan", "ragged"],
)
def test_validate_psf_rejects(psf: Any, message: str) -> None:
    with pytest.raises(SubjectFileError, match=message):
        validate_psf(psf)


def test_validate_psf_names_its_source() -> None:
    with pytest.raises(SubjectFileError, match=r"^model PSF is 4×4: .*odd size"):
        validate_psf(np.ones((4, 4)), source="model PSF")


def test_validate_psf_normalises_a_valid_kernel() -> None:
    raw = 3.7 * _gaussian_psf(11).astype(np.float32)
    psf = validate_psf(raw)
    assert psf.dtype == np.float64
    assert psf.shape == (11, 11)
    assert psf.sum() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(psf, raw / raw.astype(np.float64).sum(), rtol=1e-12)
    assert raw.sum() == pytest.approx(3.7, rel=1e-5)  # the input is not modified
    assert validate_psf([[2.0]]).tolist() == [[1.0]]


# -------------------------------------------------------------------- estimate_sigma


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimate_sigma_recovers_known_gaussian_noise(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = _galaxy()
    image = truth + rng.normal(0.0, NOISE, truth.shape)
    sigma = estimate_sigma(image, np.zeros(truth.shape, dtype=bool))
    assert sigma.shape == image.shape and sigma.dtype == np.float64
    assert np.all(np.isfinite(sigma)) and np.all(sigma > 0)
    sky = truth < 0.1 * NOISE
    assert sky.sum() > 5000
    ratio = sigma[sky] / NOISE
    assert np.median(ratio) == pytest.approx(1.0, abs=0.10)
    assert np.mean(np.abs(ratio - 1.0) < 0.10) >= 0.95
    # No source noise was added, so σ must not run away in the core either.
    assert np.median(sigma[truth > 0.3]) < 1.3 * NOISE


def test_estimate_sigma_ignores_a_masked_bright_source() -> None:
    rng = np.random.default_rng(42)
    truth = _galaxy()
    y, x = np.mgrid[:SIZE, :SIZE]
    blob = np.hypot(x - 110, y - 25)
    contaminant = 4.0 * np.exp(-0.5 * (blob / 8.0) ** 2) + 0.5 * np.exp(-blob / 6.0)
    image = truth + contaminant + rng.normal(0.0, NOISE, truth.shape)
    mask = blob < 40  # covers the companion out to ≪ σ
    assert mask.mean() > 0.1
    image[mask & (blob < 3)] = np.nan  # saturated pixels inside the mask are fine too
    sigma = estimate_sigma(image, mask)
    assert np.all(np.isfinite(sigma)) and np.all(sigma > 0)
    sky = (truth < 0.1 * NOISE) & ~mask
    assert np.median(sigma[sky]) == pytest.approx(NOISE, rel=0.10)
    assert np.mean(np.abs(sigma[sky] / NOISE - 1.0) < 0.10) >= 0.95
    # Masked pixels hold the sky σ, not a σ inflated by the companion's light.
    assert np.all(sigma[mask] == pytest.approx(np.min(sigma)))
    assert np.median(sigma[mask]) == pytest.approx(NOISE, rel=0.10)


def test_estimate_sigma_recovers_a_poisson_like_source_term() -> None:
    rng = np.random.default_rng(7)
    truth = _galaxy()
    k = 2e-3  # source variance per unit level: σ at level 1 is √(0.02² + 0.002) ≈ 0.049
    true_sigma = np.sqrt(NOISE**2 + k * truth)
    image = truth + rng.normal(0.0, 1.0, truth.shape) * true_sigma
    sigma = estimate_sigma(image, None)
    core = truth > 0.3
    assert np.median(sigma[core] / true_sigma[core]) == pytest.approx(1.0, abs=0.25)
    sky = truth < 0.1 * NOISE
    assert np.median(sigma[sky]) == pytest.approx(NOISE, rel=0.10)


def test_estimate_sigma_with_a_fixed_gain() -> None:
    rng = np.random.default_rng(3)
    truth = _galaxy()
    image = truth + rng.normal(0.0, NOISE, truth.shape)
    flat = estimate_sigma(image, None, gain_like=math.inf)
    assert np.ptp(flat) == 0.0
    assert flat[0, 0] == pytest.approx(NOISE, rel=0.10)
    with_gain = estimate_sigma(image, None, gain_like=500.0)
    centre = SIZE // 2
    level = image[centre - 1 : centre + 2, centre - 1 : centre + 2].mean()
    assert with_gain[centre, centre] == pytest.approx(math.sqrt(flat[0, 0] ** 2 + level / 500.0))
    with pytest.raises(ValueError, match="gain_like"):
        estimate_sigma(image, None, gain_like=0.0)


def test_estimate_sigma_degenerate_images_stay_positive() -> None:
    constant = np.full((20, 20), 0.5)
    assert np.all(estimate_sigma(constant, None) > 0)
    all_masked = estimate_sigma(np.ones((20, 20)), np.ones((20, 20), dtype=bool))
    assert np.all(np.isfinite(all_masked)) and np.all(all_masked > 0)
    zeros = estimate_sigma(np.zeros((5, 5)), None)
    assert np.all(np.isfinite(zeros)) and np.all(zeros > 0)
    with pytest.raises(ValueError, match="mask shape"):
        estimate_sigma(np.zeros((5, 5)), np.zeros((4, 5), dtype=bool))


# ------------------------------------------------------------------ fitting metadata


def _write_metadata(folder: Path, subject_id: int = 20901989, **changes: Any) -> Path:
    rng = np.random.default_rng(5)
    size = 128
    galaxy = _galaxy(size) + rng.normal(0.0, NOISE, (size, size))
    good = np.ones((size, size), dtype=bool)
    good[100:103, 10:14] = False
    galaxy[~good] = np.nan
    sigma = np.full((size, size), NOISE)
    sigma[~good] = np.nan
    payload = {
        "galaxy_data": galaxy.tolist(),
        "sigma_image": sigma.tolist(),
        "pixel_mask": good.tolist(),
        "psf": (1.0000000173 * _gaussian_psf()).tolist(),
        "size_diff": size / 512,
        "multiplier": 1.5584,
        "rotation_correction": 0.25,
    }
    payload.update(changes)
    path = folder / f"{subject_id}.json"
    path.write_text(json.dumps(payload))  # NaN is written as the JSON extension NaN
    return path


def test_read_fitting_metadata(tmp_path: Path) -> None:
    path = _write_metadata(tmp_path)
    raw = json.loads(path.read_text())
    subject = read_fitting_metadata(path, subject_id=20901989)
    good = np.array(raw["pixel_mask"])
    # Polarity: pixel_mask True = good → mask True = excluded.
    np.testing.assert_array_equal(subject.mask, ~good)
    assert subject.mask.sum() == 12
    assert np.all(np.isfinite(subject.image)) and np.all(np.isfinite(subject.sigma))
    assert np.all(subject.image[subject.mask] == 0.0)
    np.testing.assert_array_equal(subject.image[good], np.array(raw["galaxy_data"])[good])
    assert np.all(subject.sigma == NOISE)  # given σ kept; masked pixels get the median
    assert subject.sigma_source == "given"
    assert (subject.canvas_width, subject.canvas_height) == (512, 512)
    assert subject.multiplier == pytest.approx(1.5584)
    assert subject.rotation_correction == pytest.approx(0.25)
    assert subject.psf.sum() == pytest.approx(1.0, abs=1e-12)


def test_fitting_metadata_masks_bad_pixels_and_sizes_the_canvas(tmp_path: Path) -> None:
    size = 128
    sigma = np.full((size, size), NOISE)
    sigma[5, 6] = 0.0  # a non-positive σ cannot enter a χ²: masked
    sigma[7, 8] = -1.0
    image = np.zeros((size, 64))
    path = _write_metadata(
        tmp_path,
        sigma_image=sigma[:, :64].tolist(),
        galaxy_data=[
            [None if (r, c) == (9, 10) else v for c, v in enumerate(row)]
            for r, row in enumerate(image.tolist())
        ],
        pixel_mask=np.ones((size, 64), dtype=int).tolist(),  # 1/0 accepted as well
        size_diff=0.25,
    )
    subject = read_fitting_metadata(path)
    assert subject.mask[5, 6] and subject.mask[7, 8] and subject.mask[9, 10]
    assert subject.mask.sum() == 3
    assert np.all(subject.sigma > 0) and np.all(np.isfinite(subject.image))
    # size_diff = cutout px per canvas px: 64 / 0.25 = 256 wide, 128 / 0.25 = 512 high.
    assert (subject.canvas_width, subject.canvas_height) == (256, 512)


def test_fitting_metadata_defaults(tmp_path: Path) -> None:
    path = _write_metadata(tmp_path)
    raw = json.loads(path.read_text())
    del raw["multiplier"], raw["rotation_correction"]
    path.write_text(json.dumps(raw))
    subject = read_fitting_metadata(path)
    assert subject.multiplier == 1.0 and subject.rotation_correction == 0.0


# ------------------------------------------------------------------------- errors


def _difference_payload(size: int = 30) -> dict[str, Any]:
    rng = np.random.default_rng(11)
    image = _galaxy(size) + rng.normal(0.0, NOISE, (size, size))
    mask = np.zeros((size, size), dtype=int)
    mask[:2, :2] = 1
    return {
        "psf": _gaussian_psf().tolist(),
        "psfWidth": 11,
        "psfHeight": 11,
        "mask": mask.tolist(),
        "imageData": (image / image.max()).tolist(),
        "multiplier": 2.5,
        "width": size,
        "height": size,
        "imageWidth": 512,
        "imageHeight": 512,
    }


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


def test_read_a_synthetic_difference_file(tmp_path: Path) -> None:
    payload = _difference_payload()
    payload["imageData"][0][0] = 5.0  # a masked pixel's value is not kept
    path = tmp_path / "difference.json"
    path.write_text(json.dumps(payload))
    subject = read_difference_file(path, subject_id=7)
    assert subject.image[0, 0] == 0.0 and subject.mask[0, 0] and not subject.mask[5, 5]
    assert subject.multiplier == 2.5
    assert subject.sigma is not None and np.all(subject.sigma > 0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: _without(d, "imageData"), r"missing key\(s\) 'imageData'"),
        (lambda d: _without(d, "mask"), r"missing key\(s\) 'mask'"),
        (lambda d: {**d, "mask": d["mask"][:-1]}, r"mask is 29×30 but imageData is 30×30"),
        (lambda d: {**d, "width": 31}, r"imageData is 30×30 .* height × width is 30×31"),
        (lambda d: {**d, "imageData": d["imageData"][:-1]}, r"imageData is 29×30"),
        (lambda d: {**d, "imageData": [[1.0, 2.0], [3.0]]}, r"imageData is not a rectangular"),
        (lambda d: {**d, "mask": [[2] * 30] * 30}, r"mask must hold only 0 .* and 1"),
        (lambda d: {**d, "psfWidth": 13}, r"psf is 11×11 but psfWidth is 13"),
        (
            lambda d: {**d, "psf": [r[:10] for r in d["psf"][:10]]},
            r"psf is 10×10: a PSF must have an odd size",
        ),
        (lambda d: {**d, "width": "wide"}, r"width must be a number"),
        (lambda d: [1, 2, 3], r"expected a JSON object, found list"),
    ],
    ids=[
        "no-image",
        "no-mask",
        "mask-shape",
        "width",
        "image-rows",
        "ragged",
        "mask-values",
        "psf-width",
        "even-psf",
        "width-type",
        "not-object",
    ],
)
def test_bad_difference_files_name_subject_and_file(
    tmp_path: Path, change: Any, message: str
) -> None:
    path = tmp_path / "difference.json"
    path.write_text(json.dumps(change(_difference_payload())))
    with pytest.raises(SubjectFileError, match=message) as info:
        read_difference_file(path, subject_id=20901992)
    text = str(info.value)
    assert text.startswith("subject 20901992: difference.json (")
    assert str(path) in text


def test_missing_and_invalid_files_name_subject_and_file(tmp_path: Path) -> None:
    missing = tmp_path / "difference.json"
    with pytest.raises(SubjectFileError, match=r"subject 20901990: difference\.json.*not found"):
        read_difference_file(missing, subject_id=20901990)
    broken = tmp_path / "20901991.json"
    broken.write_text("{ broken")
    with pytest.raises(SubjectFileError, match=r"subject 20901991: 20901991\.json.*invalid JSON"):
        read_difference_file(broken, subject_id=20901991)
    with pytest.raises(SubjectFileError, match=r"subject 20901991: 20901991\.json.*invalid JSON"):
        read_fitting_metadata(broken, subject_id=20901991)
    with pytest.raises(SubjectFileError, match=r"^difference\.json \(.*not found"):
        read_difference_file(missing)  # no subject id: the file alone
    with pytest.raises(SubjectFileError, match="is a folder"):
        read_difference_file(tmp_path, subject_id=1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"size_diff": 0.0}, r"size_diff must be > 0"),
        ({"sigma_image": [[0.02] * 3] * 3}, r"sigma_image is 3×3 but galaxy_data is 128×128"),
        ({"pixel_mask": [[True] * 3] * 3}, r"pixel_mask has shape \(3, 3\)"),
        ({"pixel_mask": [[0.5] * 128] * 128}, r"pixel_mask must hold only true/false"),
        ({"psf": [[1.0, 1.0], [1.0, 1.0]]}, r"psf is 2×2: a PSF must have an odd size"),
        ({"rotation_correction": "up"}, r"rotation_correction must be a number"),
    ],
    ids=["size-diff", "sigma-shape", "mask-shape", "mask-values", "psf", "rotation"],
)
def test_bad_fitting_metadata(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    path = _write_metadata(tmp_path, subject_id=20902000, **changes)
    with pytest.raises(SubjectFileError, match=message) as info:
        read_fitting_metadata(path, subject_id=20902000)
    assert str(info.value).startswith("subject 20902000: 20902000.json (")


def test_fitting_metadata_missing_key(tmp_path: Path) -> None:
    path = _write_metadata(tmp_path, subject_id=20902001)
    raw = json.loads(path.read_text())
    del raw["sigma_image"]
    path.write_text(json.dumps(raw))
    with pytest.raises(
        SubjectFileError, match=r"subject 20902001: 20902001\.json .*missing key\(s\) 'sigma_image'"
    ):
        read_fitting_metadata(path, subject_id=20902001)


# ------------------------------------------------------------------------ file names


def test_subject_id_from_filename() -> None:
    assert subject_id_from_filename(Path("/data/meta/20901989.json")) == 20901989
    assert subject_id_from_filename(Path("20901989.JSON")) == 20901989
    for bad in ("subject_20901989.json", "20901989.txt", "0.json", "-3.json", ".json"):
        with pytest.raises(SubjectFileError, match=r"must be named <subject_id>\.json"):
            subject_id_from_filename(Path(bad))
