"""Do fits of real images finish? Tune every shared real subject and count how the fits end.

The shared real subjects come without volunteer drawings, so each fit starts from a disk and
a bulge placed by the image's own light-weighted moments (centre, second moments for size,
axis ratio and roll; the bulge a quarter of the disk's size), with priors as wide as an
aggregate's. The fit is :func:`gzbcat.fitting.tune` with its default parameters, on the
subject's real cutout, PSF, mask and estimated σ (what ``gzbcat ingest subjects`` stores).
Printed: one line per subject (converged, L-BFGS-B's message, iterations, CPU seconds,
χ²_ν), then how many converged, how many ended in ``ABNORMAL_TERMINATION_IN_LNSRCH``, and
the medians. Real galaxies have arms and this start has none, so χ²_ν is above 1; what is
measured is whether the optimiser finishes.

    python scripts/fit_real_subjects.py [--subjects N]
"""

from __future__ import annotations

import argparse
import collections
import math
import time
from pathlib import Path

import numpy as np

from gzbcat.fitting import TuneParams, tune
from gzbcat.model import GalaxyModel, SersicComponent, SubjectImage
from gzbcat.process import configure_process
from gzbcat.settings import shared_data_dir
from gzbcat.zooniverse.subject_files import read_difference_file


def moments_start(subject: SubjectImage) -> GalaxyModel:
    """A disk and a bulge from the light-weighted moments of the unmasked positive pixels."""
    weight = np.where(subject.mask, 0.0, np.clip(subject.image, 0.0, None))
    rows, cols = np.indices(weight.shape)
    total = weight.sum()
    mux, muy = (weight * cols).sum() / total, (weight * rows).sum() / total
    dx, dy = cols - mux, rows - muy
    moments = np.array(
        [[(weight * dx * dx).sum(), (weight * dx * dy).sum()],
         [(weight * dx * dy).sum(), (weight * dy * dy).sum()]]
    ) / total  # fmt: skip
    eigenvalues, eigenvectors = np.linalg.eigh(moments)
    major_px = math.sqrt(max(eigenvalues[1], 1.0))
    q = min(1.0, max(0.2, math.sqrt(max(eigenvalues[0], 0.5) / max(eigenvalues[1], 1.0))))
    roll = math.atan2(eigenvectors[1, 1], eigenvectors[0, 1]) % math.pi
    disk = SersicComponent(
        mux=mux, muy=muy, roll=roll, re=1.2 * major_px, q=q, intensity=0.2,
        errors={"mux": 3.0, "muy": 3.0, "roll": 0.3, "re": 0.3 * major_px, "q": 0.1},
    )  # fmt: skip
    bulge = SersicComponent(
        mux=mux, muy=muy, roll=roll, re=0.3 * major_px, q=min(1.0, q + 0.1), intensity=0.1,
        n=1.5, errors={"mux": 3.0, "muy": 3.0, "roll": 0.5, "re": 0.15 * major_px, "q": 0.15},
    )  # fmt: skip
    return GalaxyModel(disk=disk, bulge=bulge)


def main() -> None:
    configure_process()  # as a stage worker is set up: BLAS on one thread
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=None, help="the first N (default: all)")
    args = parser.parse_args()
    base = (shared_data_dir() or Path("../shared/data")) / "galaxy-builder" / "subjects"
    folders = sorted(p for p in base.iterdir() if (p / "difference.json").is_file())
    ended = []
    for folder in folders[: args.subjects]:
        subject = read_difference_file(folder / "difference.json", subject_id=int(folder.name))
        started = time.process_time()
        result = tune(
            moments_start(subject),
            subject.image,
            subject.sigma,
            subject.mask,
            subject.psf,
            multiplier=subject.multiplier,
            params=TuneParams(),
        )
        cpu_s = time.process_time() - started
        ended.append((result.converged, result.message, result.n_iterations, cpu_s))
        print(
            f"{folder.name}  converged {result.converged!s:5}  {result.message[:44]:44}  "
            f"{result.n_iterations:4d} iterations  {cpu_s:5.2f} CPU s  χ²_ν {result.chi2_nu:.2f}",
            flush=True,
        )
    converged = sum(e[0] for e in ended)
    abnormal = sum(e[1].startswith("ABNORMAL") for e in ended)
    print(
        f"\nconverged {converged}/{len(ended)}; ABNORMAL_TERMINATION_IN_LNSRCH {abnormal}; "
        f"median {np.median([e[2] for e in ended]):.0f} iterations, "
        f"{np.median([e[3] for e in ended]):.2f} CPU s"
    )
    print("messages:", dict(collections.Counter(e[1] for e in ended)))


if __name__ == "__main__":
    main()
