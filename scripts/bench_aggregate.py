"""Benchmark: time the pure aggregation core per subject (no database).

Builds a seeded synthetic sample in-process: per subject a random galaxy (size, roll, axis
ratio, pitch angle, chirality, 0–4 arms) and 30 simulated volunteers drawing it (see
``tests/aggregation/synthetic.py``), then times ``gzbcat.aggregation.aggregate`` on each and
prints the median and 90th percentile seconds per subject. Goal (issue #4): median ≤ 0.1 s;
the reference needed ~3 s (spec §10.3).

    python scripts/bench_aggregate.py [--subjects N] [--method corrected|reference] [--seed S]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.aggregation

from gzbcat.aggregation import aggregate
from tests.aggregation.synthetic import simulate_volunteers, two_arm_galaxy


def _subject(rng: np.random.Generator) -> tuple[object, list]:
    size = int(rng.integers(100, 260))
    shape = (size, int(size * rng.uniform(0.9, 1.1)))
    n_arms = int(rng.integers(0, 5))
    truth = two_arm_galaxy(
        pitch_angle_deg=float(rng.uniform(12, 30)),
        chirality=int(rng.choice([-1, 1])),
        image_shape=shape,
        n_arms=n_arms,
    )
    scale = size / 160
    disk = truth.disk.with_parameters(
        re=truth.disk.re * scale,
        roll=float(rng.uniform(0, np.pi)),
        q=float(rng.uniform(0.35, 0.9)),
    )
    arms = tuple(replace(arm, a_px=arm.a_px * scale) for arm in truth.arms)
    truth = replace(truth, disk=disk, arms=arms)
    volunteers = simulate_volunteers(truth, rng, n_volunteers=30)
    return truth, volunteers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=100)
    parser.add_argument("--method", choices=["corrected", "reference"], default="corrected")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    sample = [_subject(rng) for _ in range(args.subjects)]
    aggregate(sample[0][1], sample[0][0].image_shape, method=args.method)  # warm-up
    seconds = []
    n_arms = []
    for truth, volunteers in sample:
        start = time.perf_counter()
        result = aggregate(volunteers, truth.image_shape, method=args.method)
        seconds.append(time.perf_counter() - start)
        n_arms.append((len(truth.arms), len(result.model.arms)))
    seconds_arr = np.array(seconds)
    true_arms = sum(t for t, _ in n_arms)
    found_arms = sum(f for _, f in n_arms)
    print(f"method {args.method}: {args.subjects} subjects, 30 volunteers each")
    print(f"arms: {true_arms} true, {found_arms} aggregated")
    print(
        f"seconds per subject: median {np.median(seconds_arr):.4f}, "
        f"p90 {np.percentile(seconds_arr, 90):.4f}, max {seconds_arr.max():.4f}, "
        f"total {seconds_arr.sum():.2f}"
    )


if __name__ == "__main__":
    main()
