"""Benchmark the renderer and the fit objective (issue #3; not a timed test).

A disk + bulge + bar + 2 arms model (the spec §10.2 example truth, plus a bulge) on a
135 × 135 image with an 11 × 11 PSF. Prints the median of many repeats, in milliseconds, of:
the model image (``render_model``), the objective value, and its value and full gradient.
Goals on a 2-core machine: image ≤ 3 ms, value and gradient ≤ 15 ms (the reference: 34 ms
for the value, 199 ms for the gradient; spec §10.3).

Usage: ``python scripts/bench_render.py [--repeats N] [--method corrected|reference]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from gzbcat.model import GalaxyModel, LogSpiralFit, SersicComponent, SpiralArm
from gzbcat.rendering.objective import FitObjective, ParameterSpace, prior_widths
from gzbcat.rendering.render import render_model

SHAPE = (135, 135)


def example_model() -> GalaxyModel:
    errors = {"mux": 1.0, "muy": 1.0, "roll": 0.1, "re": 2.0, "q": 0.05}
    disk = SersicComponent(67.6712, 66.4293, 1.34130, 30.9546, 0.50668, 0.108, errors=errors)
    bulge = SersicComponent(67.2, 66.5, 0.5, 5.0, 0.8, 0.3, n=2.2, errors=errors)
    bar = SersicComponent(66.9631, 66.1140, 0.92177, 4.18773, 0.33175, 0.48666, n=0.8, c=3.0)
    arms = (
        SpiralArm(
            np.zeros((0, 2)),
            0.46296,
            1.58114,
            1.0,
            LogSpiralFit(9.57289, 20.0, 1, 0.32289, 2.96541),
        ),
        SpiralArm(
            np.zeros((0, 2)),
            0.46296,
            1.58114,
            1.0,
            LogSpiralFit(30.5493, 17.6156, 1, -3.46355, -1.0),
        ),
    )
    return GalaxyModel(disk=disk, bulge=bulge, bar=bar, arms=arms)


def psf_11() -> np.ndarray:
    y, x = np.mgrid[-5:6, -5:6]
    psf = np.exp(-((x - 0.3) ** 2 + y**2) / (2 * 1.3**2))
    return psf / psf.sum()


def median_ms(func: Callable[[], object], repeats: int) -> float:
    func()  # warm caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--method", choices=["corrected", "reference"], default="corrected")
    args = parser.parse_args()
    model, psf = example_model(), psf_11()
    space = ParameterSpace.from_model(model, SHAPE, method=args.method)
    rng = np.random.default_rng(0)
    data = space.render(space.x0, psf) + rng.normal(0.0, 0.02, SHAPE)
    objective = FitObjective(
        space, data, np.full(SHAPE, 0.02), psf, prior_sigma=prior_widths(space)
    )
    x = space.x0 * (1.0 + 0.01 * rng.standard_normal(len(space)))
    image_ms = median_ms(lambda: render_model(model, SHAPE, psf, method=args.method), args.repeats)
    value_ms = median_ms(lambda: objective.value(x), args.repeats)
    grad_ms = median_ms(lambda: objective.value_and_grad(x), args.repeats)
    print(f"method: {args.method}; image {SHAPE[0]}x{SHAPE[1]}, PSF 11x11, {len(space)} parameters")
    print(f"image            {image_ms:8.2f} ms   (goal <= 3 ms)")
    print(f"value            {value_ms:8.2f} ms   (reference: 34 ms)")
    print(f"value + gradient {grad_ms:8.2f} ms   (goal <= 15 ms; reference: 199 ms)")


if __name__ == "__main__":
    main()
