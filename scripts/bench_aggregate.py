"""Benchmark: time aggregation and best-individual selection per subject (no database).

Builds a seeded sample with :func:`gzbcat.simulate.simulate` (hand-drawn arms of 20–150
points, 0–4 arms, junk rows) in a temporary folder, parses every classification with the real
parser (``read_classification_export`` → ``parse_annotation`` in each subject's canvas frame
from its fitting metadata), groups the models by subject and times
``gzbcat.aggregation.aggregate`` on each with ``time.process_time`` (CPU seconds, so other
load on the machine does not inflate it), and the best-individual choice (render every
volunteer model with the PSF, χ² against the image) on each. Prints the median, 90th
percentile and maximum per subject, and arms recovered against the truth. Goals (issue #4):
medians ≤ 0.1 s (aggregation, corrected mode) and ≤ 0.2 s (best individual) per subject; the
reference pipeline needed ~3 s to aggregate (spec §10.3). The process is set up as a stage
worker's is (:func:`gzbcat.process.configure_process`).

``--dump FILE`` also writes every subject's aggregate in both methods as JSON, to compare
two checkouts with ``scripts/compare_aggregates.py``.

    python scripts/bench_aggregate.py [--galaxies N] [--seed S] [--reference K] [--profile]
                                      [--dump FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from gzbcat.aggregation import aggregate
from gzbcat.aggregation.best_individual import best_individual
from gzbcat.model import GalaxyModel, SubjectImage
from gzbcat.process import configure_process
from gzbcat.simulate import simulate
from gzbcat.zooniverse.annotations import AnnotationError, CanvasFrame, parse_annotation
from gzbcat.zooniverse.exports import ClassificationRow, read_classification_export
from gzbcat.zooniverse.subject_files import read_fitting_metadata

Sample = list[tuple[int, tuple[int, int], list[GalaxyModel], int, SubjectImage]]
"""Per subject: id, (H, W), parsed volunteer models, true arm count, image."""


def build_sample(folder: Path, galaxies: int, volunteers: int, seed: int) -> Sample:
    """Simulate ``galaxies`` subjects into ``folder`` and parse them as the pipeline would."""
    simulate(folder, galaxies=galaxies, volunteers=volunteers, seed=seed)
    return parse_sample(folder)


def parse_sample(folder: Path, method: str = "corrected") -> Sample:
    """Parse a simulated sample in ``folder`` with the parser of ``method``."""
    truth = json.loads((folder / "truth.json").read_text())["subjects"]
    rows: dict[int, list[ClassificationRow]] = defaultdict(list)
    for row in read_classification_export(folder / "classifications.csv"):
        if isinstance(row, ClassificationRow):
            rows[row.subject_id].append(row)
    sample: Sample = []
    for sid in sorted(rows):
        image = read_fitting_metadata(folder / "fitting-metadata" / f"{sid}.json", subject_id=sid)
        height, width = image.image.shape
        frame = CanvasFrame(
            image_width=width,
            image_height=height,
            canvas_width=image.canvas_width,
            canvas_height=image.canvas_height,
            rotation_correction=float(image.rotation_correction or 0.0),
        )
        models = []
        for row in rows[sid]:
            try:
                models.append(parse_annotation(row.annotations, frame, method=method))
            except AnnotationError:
                continue  # the simulation's junk rows
        n_true = len(truth[str(sid)]["model"]["arms"])
        sample.append((sid, (height, width), models, n_true, image))
    return sample


def time_sample(sample: Sample, method: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """CPU seconds per subject and (true, aggregated) arm counts."""
    seconds, arms = [], []
    for _, shape, models, n_true, _image in sample:
        start = time.process_time()
        result = aggregate(models, shape, method=method)
        seconds.append(time.process_time() - start)
        arms.append((n_true, len(result.model.arms)))
    return np.array(seconds), arms


def report(method: str, seconds: np.ndarray, arms: list[tuple[int, int]]) -> None:
    true_arms = sum(t for t, _ in arms)
    found_arms = sum(f for _, f in arms)
    exact = sum(t == f for t, f in arms)
    print(f"method {method}: {len(seconds)} subjects")
    print(
        f"  arms: {true_arms} true, {found_arms} aggregated; "
        f"count exact on {exact}/{len(arms)} subjects"
    )
    print(
        f"  CPU seconds per subject: median {np.median(seconds):.4f}, "
        f"p90 {np.percentile(seconds, 90):.4f}, max {seconds.max():.4f}, "
        f"total {seconds.sum():.2f}"
    )


def dump_aggregates(samples: dict[str, Sample], path: Path) -> None:
    """Write every subject's aggregate, per method, as JSON: the model and its members.

    Each method's models are parsed with that method's parser, as ``gzbcat ingest
    classifications --method`` and ``gzbcat aggregate --method`` would. Floats are written
    with ``repr`` precision, so two dumps compare bit for bit
    (``scripts/compare_aggregates.py``).
    """
    out: dict[str, dict[str, object]] = {}
    for method, sample in samples.items():
        out[method] = {}
        for sid, shape, models, _, _image in sample:
            result = aggregate(models, shape, method=method)
            out[method][str(sid)] = {
                "model": result.model.to_dict(),
                "members": {name: list(owners) for name, owners in result.members.items()},
            }
    path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"aggregates of {', '.join(samples)} written to {path}")


def main() -> None:
    configure_process()  # as a stage worker is set up: BLAS on one thread, freed memory kept
    run()


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--galaxies", type=int, default=40)
    parser.add_argument("--volunteers", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--reference", type=int, default=3, help="also time reference mode on this many subjects"
    )
    parser.add_argument("--repeats", type=int, default=1, help="time each subject this often")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of corrected")
    parser.add_argument(
        "--dump",
        type=Path,
        help="write every subject's aggregate, both methods, as JSON to this file",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        sample = build_sample(Path(tmp), args.galaxies, args.volunteers, args.seed)
        print(f"simulated and parsed {len(sample)} subjects in {time.perf_counter() - start:.1f} s")
        if args.dump is not None:
            dump_aggregates(
                {"corrected": sample, "reference": parse_sample(Path(tmp), "reference")},
                args.dump,
            )
    drawn = [sum(len(m.arms) for m in s[2]) for s in sample]
    print(
        f"models per subject: median {np.median([len(s[2]) for s in sample]):.0f}; "
        f"drawn arms per subject: median {np.median(drawn):.0f}, max {max(drawn)}"
    )
    aggregate(sample[0][2], sample[0][1])  # warm-up (imports, caches)
    runs = [time_sample(sample, "corrected") for _ in range(max(1, args.repeats))]
    seconds = np.median(np.stack([r[0] for r in runs]), axis=0)
    report("corrected", seconds, runs[0][1])
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        time_sample(sample, "corrected")
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    best_seconds = []
    for _, _, models, _, image in sample:
        start = time.process_time()
        best_individual(models, image)
        best_seconds.append(time.process_time() - start)
    best = np.array(best_seconds)
    print(
        f"best individual: CPU seconds per subject: median {np.median(best):.4f}, "
        f"p90 {np.percentile(best, 90):.4f}, max {best.max():.4f}"
    )
    if args.reference > 0:
        subset = sample[: args.reference]
        ref_seconds, ref_arms = time_sample(subset, "reference")
        report("reference", ref_seconds, ref_arms)


if __name__ == "__main__":
    main()
