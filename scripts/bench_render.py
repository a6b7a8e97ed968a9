"""Benchmark the renderer and the fit objective (issue #3; not a timed test).

A disk + bulge + bar + 2 arms model (the spec §10.2 example truth, plus a bulge) on a
135 × 135 image with an 11 × 11 PSF. For each method it prints, in milliseconds, the median
and the 10th–90th percentile range over many repeats of: the model image (``render_model``),
the objective value, and its value and full gradient. The three are timed round-robin (one
of each per round) so that load from other processes on a shared machine hits them alike.
Goals on a 2-core machine, corrected method: image ≤ 3 ms, value and gradient ≤ 15 ms (the
reference: 34 ms for the value, 199 ms for the gradient; spec §10.3).

Usage: ``python scripts/bench_render.py [--repeats N] [--method corrected|reference|both]``
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np

from gzbcat.fitting import FitObjective, ParameterSpace, prior_widths
from gzbcat.model import GalaxyModel, LogSpiralFit, Method, SersicComponent, SpiralArm
from gzbcat.process import configure_process
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


def time_round_robin(funcs: dict[str, Callable[[], object]], repeats: int) -> dict[str, np.ndarray]:
    """Seconds per call of each function, called in turn ``repeats`` times after a warm-up."""
    for func in funcs.values():
        func()  # warm caches (and the allocator)
    times: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(repeats):
        for name, func in funcs.items():
            start = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - start)
    return {name: np.array(values) for name, values in times.items()}


def bench(method: Method, repeats: int) -> None:
    """Time one method and print its table."""
    model, psf = example_model(), psf_11()
    space = ParameterSpace.from_model(model, SHAPE, method=method)
    rng = np.random.default_rng(0)
    data = space.render(space.x0, psf) + rng.normal(0.0, 0.02, SHAPE)
    objective = FitObjective(
        space, data, np.full(SHAPE, 0.02), psf, prior_sigma=prior_widths(space)
    )
    x = space.x0 * (1.0 + 0.01 * rng.standard_normal(len(space)))
    times = time_round_robin(
        {
            "image": lambda: render_model(model, SHAPE, psf, method=method),
            "value": lambda: objective.value(x),
            "value + gradient": lambda: objective.value_and_grad(x),
        },
        repeats,
    )
    notes = {
        "image": "goal <= 3 ms" if method == "corrected" else "",
        "value": "reference implementation: 34 ms",
        "value + gradient": ("goal <= 15 ms; " if method == "corrected" else "")
        + "reference implementation: 199 ms",
    }
    print(f"method: {method}; image {SHAPE[0]}x{SHAPE[1]}, PSF 11x11, {len(space)} parameters")
    for name, values in times.items():
        ms = values * 1e3
        low, mid, high = np.percentile(ms, [10, 50, 90])
        print(f"  {name:17s} {mid:8.2f} ms  (p10-p90 {low:6.2f}-{high:6.2f})   {notes[name]}")


def main() -> None:
    configure_process()  # as a stage worker is set up: BLAS on one thread, freed memory kept
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--method", choices=["corrected", "reference", "both"], default="both")
    args = parser.parse_args()
    methods = list(Method) if args.method == "both" else [Method(args.method)]
    if hasattr(os, "getloadavg"):  # timings on a shared machine mean little without it
        load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
        print(f"load average (1, 5, 15 min): {load} on {os.cpu_count()} CPUs")
    for method in methods:
        bench(method, args.repeats if method == "corrected" else max(10, args.repeats // 5))


if __name__ == "__main__":
    main()
