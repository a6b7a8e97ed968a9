"""Benchmark the tuning core (gzbcat.fitting.tune) on simulated galaxies with known truth.

Two parts, both printed:

1. **Worked example** (spec §10.2): the synthetic truth (disk, bar, two arms) on 135 × 135,
   rendered with the real PSF of a shared subject and σ = 0.017 (the median ``sigma_image`` of
   spec §2.4), seeded Gaussian noise, 8 masked pixels as in the spec's example. The start is a
   perturbed "aggregate": centre ±1 px, Re ±10 %, roll ±5°, q ±0.03, the placeholder
   intensities of spec §5.4 (disk I 0.2, bar and bulge I 0.01, n 1, c 2; arms I 0.1, spread 3),
   slightly perturbed arms (A ±3 %, φ ±1°), and — like the volunteers of the real example
   (spec §10.1) — a bulge the truth does not have. Priors use aggregate-like errors. Reported:
   χ²_ν, loss, iterations, time, for the default (corrected, scaled coordinates) and for the
   same objective optimised in raw coordinates and in ``reference`` mode (500-iteration cap,
   the notebook's schedule).
2. **Sample of 20** seeded galaxies (disk always, bulge ~50 %, bar ~40 %, 0–3 arms): median
   absolute errors of disk Re, q and roll for the start and the tuned model, and the bulge /
   bar light-fraction errors for the galaxies that have the component.

Run: ``.venv/bin/python scripts/bench_tune.py [--quick]`` (``--quick``: 6 galaxies, one
repeat). BLAS runs on one thread (:func:`gzbcat.process.configure_process`), so the times
are one core's.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import numpy as np

from gzbcat.fitting import TuneParams, TuneResult, tune
from gzbcat.model import GalaxyModel, LogSpiralFit, SersicComponent, SpiralArm
from gzbcat.process import configure_process
from gzbcat.rendering import luminosity, render_components, render_model
from gzbcat.settings import shared_data_dir
from gzbcat.zooniverse.subject_files import read_difference_file

SHAPE = (135, 135)
SIGMA = 0.017  # spec §2.4: median sigma_image of the example subject
PSF_SUBJECT = 20902020  # a 134 × 134 shared subject: its PSF is used


def load_psf() -> np.ndarray:
    """The real PSF of a shared subject (difference file, spec §2.4)."""
    base = shared_data_dir() or Path("../shared/data")
    path = base / "galaxy-builder" / "subjects" / str(PSF_SUBJECT) / "difference.json"
    return read_difference_file(path, subject_id=PSF_SUBJECT).psf


def example_mask() -> np.ndarray:
    """The spec example's 8 masked pixels (rows 114–116, cols 104–107), True = excluded."""
    mask = np.zeros(SHAPE, dtype=bool)
    mask[114, 104:107] = True
    mask[115, 104:107] = True
    mask[116, 105:107] = True
    return mask


def true_fractions(truth: GalaxyModel) -> dict[str, float]:
    """Bulge and bar fractions of the truth, with spec §8.8's definition of the total."""
    parts = render_components(truth, SHAPE)
    arms = sum(float(img.sum()) for key, img in parts.items() if key.startswith("arm"))
    lum = {
        name: luminosity(c.intensity, c.re, c.q, c.n, c.c) for name, c in truth.components().items()
    }
    total = sum(lum.values()) + arms
    return {"bulge": lum.get("bulge", 0.0) / total, "bar": lum.get("bar", 0.0) / total}


def perturb_component(
    comp: SersicComponent, rng: np.random.Generator, placeholder: float, q_range: tuple
) -> SersicComponent:
    """An aggregate-like copy: centre ±1 px, Re ±10 %, roll ±5°, q ±0.03, placeholder I, n, c."""
    errors = {
        "mux": 1.0,
        "muy": 1.0,
        "roll": math.radians(5.0),
        "re": 0.1 * comp.re,
        "q": 0.05,
    }
    return SersicComponent(
        mux=comp.mux + rng.uniform(-1, 1),
        muy=comp.muy + rng.uniform(-1, 1),
        roll=(comp.roll + math.radians(rng.uniform(-5, 5))) % math.pi,
        re=comp.re * rng.uniform(0.9, 1.1),
        q=float(np.clip(comp.q + rng.uniform(-0.03, 0.03), *q_range)),
        intensity=placeholder,
        n=1.0,
        c=2.0,
        errors=errors,
    )


def perturb_arm(arm: SpiralArm, rng: np.random.Generator) -> SpiralArm:
    """Aggregate arm: A ±3 %, φ ±1°, placeholder I 0.1 and spread 3 (spec §6.9)."""
    assert arm.fit is not None
    fit = LogSpiralFit(
        a=arm.fit.a * rng.uniform(0.97, 1.03),
        pitch_angle_deg=arm.fit.pitch_angle_deg + rng.uniform(-1, 1),
        chirality=arm.fit.chirality,
        t_min=arm.fit.t_min,
        t_max=arm.fit.t_max,
    )
    return SpiralArm(np.zeros((0, 2)), intensity=0.1, spread=3.0, fit=fit)


def aggregate_of(truth: GalaxyModel, rng: np.random.Generator) -> GalaxyModel:
    assert truth.disk is not None
    return GalaxyModel(
        disk=perturb_component(truth.disk, rng, 0.2, (0.25, 1.0)),
        bulge=None if truth.bulge is None else perturb_component(truth.bulge, rng, 0.01, (0.6, 1)),
        bar=None if truth.bar is None else perturb_component(truth.bar, rng, 0.01, (0.05, 0.5)),
        arms=tuple(perturb_arm(arm, rng) for arm in truth.arms),
    )


def observe(truth: GalaxyModel, psf: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return render_model(truth, SHAPE, psf) + rng.normal(0.0, SIGMA, SHAPE)


# --------------------------------------------------------------------------------------------
# Part 1: the worked example
# --------------------------------------------------------------------------------------------


def example_truth() -> GalaxyModel:
    """Spec §10.2 ``example_model.json``."""
    fits = (
        LogSpiralFit(9.57289, 20.0, 1, 0.32289, 2.96541),
        LogSpiralFit(30.5493, 17.6156, 1, -3.46355, -1.0),
    )
    arms = tuple(SpiralArm(np.zeros((0, 2)), 0.46296, 1.58114, 1.0, fit) for fit in fits)
    return GalaxyModel(
        disk=SersicComponent(67.6712, 66.4293, 1.34130, 30.9546, 0.50668, 0.108),
        bar=SersicComponent(66.9631, 66.1140, 0.92177, 4.18773, 0.33175, 0.48666, 0.8, 3.0),
        arms=arms,
    )


def example_start(truth: GalaxyModel, rng: np.random.Generator) -> GalaxyModel:
    agg = aggregate_of(truth, rng)
    assert agg.disk is not None and agg.bar is not None
    spurious_bulge = SersicComponent(
        mux=agg.bar.mux + 0.5,
        muy=agg.bar.muy - 0.4,
        roll=0.3,
        re=4.5,
        q=0.85,
        intensity=0.01,
        errors={"mux": 1.0, "muy": 1.0, "roll": 0.5, "re": 1.0, "q": 0.08},
    )
    return GalaxyModel(disk=agg.disk, bulge=spurious_bulge, bar=agg.bar, arms=agg.arms)


def describe(label: str, res: TuneResult, cpu: list[float], wall: list[float]) -> None:
    print(
        f"  {label:<36} chi2_nu {res.chi2_nu:7.4f}  loss {res.loss:11.3f}  "
        f"iter {res.n_iterations:4d}  evals {res.n_evaluations:4d}  "
        f"CPU {statistics.median(cpu):6.2f} s  wall {statistics.median(wall):6.2f} s "
        f"(median of {len(cpu)})  converged {res.converged}"
    )


def report_example_fit(res: TuneResult, truth: GalaxyModel, start: GalaxyModel) -> None:
    fractions = true_fractions(truth)
    disk, true_disk, start_disk = res.model.disk, truth.disk, start.disk
    assert disk is not None and true_disk is not None and start_disk is not None
    print(
        f"    bulge fraction {res.bulge_fraction:.4f} (truth 0: a spurious volunteer bulge), "
        f"bar fraction {res.bar_fraction:.4f} (truth {fractions['bar']:.4f}), "
        f"spiral fraction {res.spiral_fraction:.4f}"
    )
    print(
        f"    disk Re {disk.re:.3f} (truth {true_disk.re:.3f}, start {start_disk.re:.3f}), "
        f"q {disk.q:.4f} (truth {true_disk.q:.4f}, start {start_disk.q:.4f}), "
        f"roll {disk.roll:.4f} (truth {true_disk.roll:.4f}, start {start_disk.roll:.4f})"
    )
    print(
        f"    flux {res.flux:.2f} nmgy (multiplier 1.5584), magnitude {res.magnitude:.3f}; "
        f"disk re error (posterior 1σ) {disk.errors.get('re', math.nan):.3f} px"
    )


def part_example(psf: np.ndarray, repeats: int) -> None:
    rng = np.random.default_rng(20200101)
    truth = example_truth()
    image = observe(truth, psf, rng)
    start = example_start(truth, rng)
    mask = example_mask()
    sigma = np.full(SHAPE, SIGMA)
    print("Worked example (spec §10.2 truth, 135 x 135, subject", PSF_SUBJECT, "PSF, σ 0.017)")
    truth_chi2 = float(
        np.sum(((render_model(truth, SHAPE, psf) - image) / sigma)[~mask] ** 2)
    ) / int((~mask).sum())
    print(f"  truth itself: chi2/N {truth_chi2:.4f};  reference reached 1.3033 (spec §10.1)")
    runs = [
        ("corrected, scaled (default)", TuneParams(), repeats),
        ("corrected, raw coordinates, cap 500", TuneParams(scaled=False, max_iterations=500), 1),
        ("reference mode, cap 500", TuneParams(method="reference", max_iterations=500), 1),
        ("corrected, scaled, 4 starts", TuneParams(starts=4, seed=1), 1),
    ]
    for label, params, n in runs:
        cpu, wall = [], []
        res = None
        for _ in range(n):
            t0, w0 = time.process_time(), time.perf_counter()
            res = tune(start, image, sigma, mask, psf, multiplier=1.5584, params=params)
            cpu.append(time.process_time() - t0)
            wall.append(time.perf_counter() - w0)
        assert res is not None
        describe(label, res, cpu, wall)
        if params == TuneParams():
            report_example_fit(res, truth, start)
    print("  (times: CPU seconds of this process with one thread, and wall seconds)")


# --------------------------------------------------------------------------------------------
# Part 2: the sample
# --------------------------------------------------------------------------------------------


def sample_truth(rng: np.random.Generator) -> GalaxyModel:
    """Disk always, bulge ~50 %, bar ~40 %, 0–3 arms, around the image centre."""
    cx, cy = (SHAPE[1] - 1) / 2 + rng.uniform(-3, 3), (SHAPE[0] - 1) / 2 + rng.uniform(-3, 3)
    re_d = rng.uniform(15, 30)
    disk = SersicComponent(
        cx, cy, rng.uniform(0, math.pi), re_d, rng.uniform(0.35, 0.9), rng.uniform(0.06, 0.2)
    )
    lum_d = luminosity(disk.intensity, disk.re, disk.q, 1.0, 2.0)
    bulge = bar = None
    if rng.random() < 0.5:
        shape = {
            "re": re_d * rng.uniform(0.1, 0.25),
            "q": rng.uniform(0.7, 1.0),
            "n": rng.uniform(1, 3),
        }
        target = rng.uniform(0.05, 0.3) / (1 - 0.3) * lum_d
        k = luminosity(1.0, shape["re"], shape["q"], shape["n"], 2.0)
        bulge = SersicComponent(
            cx, cy, rng.uniform(0, math.pi), intensity=target / k, c=2.0, **shape
        )
    if rng.random() < 0.4:
        shape = {
            "re": re_d * rng.uniform(0.25, 0.5),
            "q": rng.uniform(0.15, 0.35),
            "n": rng.uniform(0.5, 1.0),
            "c": rng.uniform(2.0, 3.5),
        }
        target = rng.uniform(0.03, 0.15) * lum_d
        k = luminosity(1.0, shape["re"], shape["q"], shape["n"], shape["c"])
        bar = SersicComponent(cx, cy, rng.uniform(0, math.pi), intensity=target / k, **shape)
    arms = []
    n_arms = int(rng.integers(0, 4))
    chirality = int(rng.choice([-1, 1]))
    for k in range(n_arms):
        t0 = 2 * math.pi * k / max(n_arms, 1) + rng.uniform(-0.3, 0.3)
        fit = LogSpiralFit(
            a=re_d * rng.uniform(0.2, 0.4),
            pitch_angle_deg=rng.uniform(12, 25),
            chirality=chirality,
            t_min=t0,
            t_max=t0 + rng.uniform(2.0, 3.5),
        )
        arms.append(
            SpiralArm(np.zeros((0, 2)), rng.uniform(0.2, 0.5), rng.uniform(1, 2.5), fit=fit)
        )
    return GalaxyModel(disk=disk, bulge=bulge, bar=bar, arms=tuple(arms))


def roll_error_deg(a: float, b: float) -> float:
    d = (a - b) % math.pi
    return math.degrees(min(d, math.pi - d))


def part_sample(psf: np.ndarray, n_galaxies: int) -> None:
    rng = np.random.default_rng(7)
    mask = example_mask()
    sigma = np.full(SHAPE, SIGMA)
    rows = []
    for _ in range(n_galaxies):
        truth = sample_truth(rng)
        image = observe(truth, psf, rng)
        start = aggregate_of(truth, rng)
        t0 = time.process_time()
        res = tune(start, image, sigma, mask, psf)
        seconds = time.process_time() - t0
        rows.append((truth, start, res, true_fractions(truth), seconds))
    err = {key: {"start": [], "tuned": []} for key in ("re", "q", "roll")}
    frac_err: dict[str, list[float]] = {"bulge": [], "bar": []}
    for truth, start, res, fr, _ in rows:
        assert truth.disk is not None and start.disk is not None and res.model.disk is not None
        for label, model in (("start", start), ("tuned", res.model)):
            d = model.disk
            assert d is not None
            err["re"][label].append(abs(d.re - truth.disk.re) / truth.disk.re)
            err["q"][label].append(abs(d.q - truth.disk.q))
            err["roll"][label].append(roll_error_deg(d.roll, truth.disk.roll))
        if truth.bulge is not None:
            frac_err["bulge"].append(abs(res.bulge_fraction - fr["bulge"]))
        if truth.bar is not None:
            frac_err["bar"].append(abs(res.bar_fraction - fr["bar"]))
    print(f"\nSample of {n_galaxies} simulated galaxies (seed 7; 135 x 135, σ 0.017, real PSF)")
    print(
        f"  with bulge {sum(r[0].bulge is not None for r in rows)}, with bar "
        f"{sum(r[0].bar is not None for r in rows)}, arms "
        f"{[len(r[0].arms) for r in rows]}"
    )
    print("  median absolute error of the disk:          start      tuned")
    print(
        f"    Re (relative)                          {statistics.median(err['re']['start']):8.4f}"
        f"   {statistics.median(err['re']['tuned']):8.4f}"
    )
    print(
        f"    q                                      {statistics.median(err['q']['start']):8.4f}"
        f"   {statistics.median(err['q']['tuned']):8.4f}"
    )
    print(
        f"    roll (deg)                             {statistics.median(err['roll']['start']):8.4f}"
        f"   {statistics.median(err['roll']['tuned']):8.4f}"
    )
    for name, values in frac_err.items():
        if values:
            within = sum(v <= 0.05 for v in values)
            print(
                f"  {name} fraction |tuned − truth|: median {statistics.median(values):.4f}, "
                f"max {max(values):.4f}; within 0.05: {within}/{len(values)}"
            )
    print("  per galaxy: parts, iterations, evaluations, CPU s, chi2_nu")
    for k, (truth, _, res, _, seconds) in enumerate(rows):
        parts = "+".join(truth.components()) + f"+{len(truth.arms)}arms"
        print(
            f"    {k:2d} {parts:<22} {res.n_iterations:4d} {res.n_evaluations:5d} "
            f"{seconds:6.2f} {res.chi2_nu:7.4f}"
        )
    times = [r[4] for r in rows]
    chi = [r[2].chi2_nu for r in rows]
    print(
        f"  per galaxy: CPU time median {statistics.median(times):.2f} s, max {max(times):.2f} s;"
        f" chi2_nu median {statistics.median(chi):.4f}, max {max(chi):.4f}; converged "
        f"{sum(r[2].converged for r in rows)}/{len(rows)}"
    )


def main() -> None:
    configure_process()  # as a stage worker is set up: BLAS on one thread, freed memory kept
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 galaxies, one repeat")
    args = parser.parse_args()
    psf = load_psf()
    part_example(psf, repeats=1 if args.quick else 3)
    part_sample(psf, n_galaxies=6 if args.quick else 20)


if __name__ == "__main__":
    main()
