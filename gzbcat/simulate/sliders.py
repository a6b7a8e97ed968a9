"""The Galaxy Builder sliders: how a simulated volunteer sets them and how the export records them.

Each drawn component has a scale, an intensity and (bulge, bar) a Sérsic index and (bar) a
boxyness slider; each arm has intensity and spread sliders and the spiral task one falloff.
A volunteer moves some of them (intensities toward the truth) and leaves the others at their
default strings (spec §2.2); the parser reads a default string as its number, so an untouched
slider (None here) means that default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gzbcat.model import SersicComponent, SpiralArm

__all__ = [
    "P_SLIDER_MOVED",
    "SLIDER_RANGE",
    "arm_sliders",
    "component_sliders",
    "drawn_arm",
    "falloff_slider",
    "set_slider",
    "write_sliders",
]

# Probability that a volunteer moves a slider, per slider kind ("arm": each arm's two sliders).
P_SLIDER_MOVED = {"scale": 0.3, "intensity": 0.6, "n": 0.4, "c": 0.4, "arm": 0.4, "falloff": 0.3}

# Slider ranges on the web interface (spec §2.2 table of observed values), raw slider units.
SLIDER_RANGE = {
    "scale": (0.2, 2.0),
    "disk_intensity": (0.0, 1.0),
    "bulge_intensity": (0.0, 2.0),
    "bulge_n": (0.5, 5.0),
    "bar_intensity": (0.0, 1.0),
    "bar_n": (0.3, 2.0),
    "bar_c": (1.0, 4.0),
    "arm_intensity": (0.0, 1.0),
    "arm_spread": (0.2, 2.0),
    "falloff": (0.2, 2.0),
}

# Slider positions in each task's ``value`` list (spec §2.2) and their untouched strings.
_SLIDER_INDEX = {"scale": 1, "intensity": 2, "n": 3, "c": 4}
_UNTOUCHED = {
    ("disk", "scale"): "1",
    ("disk", "intensity"): "0.2",
    ("bulge", "scale"): "1",
    ("bulge", "intensity"): "0.5",
    ("bulge", "n"): "1",
    ("bar", "scale"): "1",
    ("bar", "intensity"): "0.2",
    ("bar", "n"): "0.5",
    ("bar", "c"): "2",
}
_ARM_UNTOUCHED = {"intensity": "0.75", "spread": "1", "falloff": "1"}
_COMPONENT_INTENSITY_FACTOR = 1.6  # parse: I = slider / 1.6 (spec §3.3)
_ARM_INTENSITY_FACTOR = 0.8  # parse: arm I = slider / 0.8 (spec §3.5)


def set_slider(rng: np.random.Generator, p_moved: float, value: float, bounds: str) -> float | None:
    """A moved slider's value (2 decimals, inside its range), or None if left untouched."""
    if rng.random() >= p_moved:
        return None
    low, high = SLIDER_RANGE[bounds]
    return round(float(np.clip(value, low, high)), 2)


def component_sliders(
    rng: np.random.Generator, name: str, shape: SersicComponent, aim: SersicComponent | None
) -> tuple[SersicComponent, dict[str, float | None]]:
    """Slider settings of one drawn component, and the component they mean.

    ``aim`` is the true component whose brightness the volunteer tries to match (None for a
    spurious one, set at random). An untouched slider (None) means its default, which is
    what the parser reads from the default string.
    """
    sliders: dict[str, float | None] = {}
    lognormal = math.exp(float(rng.normal(0.0, 0.35)))
    if aim is not None:
        guess_i = aim.intensity * _COMPONENT_INTENSITY_FACTOR * lognormal
    else:
        guess_i = float(rng.uniform(0.05, 0.8))
    sliders["scale"] = set_slider(
        rng, P_SLIDER_MOVED["scale"], float(rng.uniform(0.5, 1.8)), "scale"
    )
    sliders["intensity"] = set_slider(
        rng, P_SLIDER_MOVED["intensity"], guess_i, f"{name}_intensity"
    )
    if name != "disk":
        true_n = aim.n if aim is not None else float(rng.uniform(0.5, 3.0))
        guess_n = true_n * math.exp(float(rng.normal(0.0, 0.3)))
        sliders["n"] = set_slider(rng, P_SLIDER_MOVED["n"], guess_n, f"{name}_n")
    if name == "bar":
        true_c = aim.c if aim is not None else 2.0
        sliders["c"] = set_slider(rng, P_SLIDER_MOVED["c"], true_c + rng.normal(0.0, 0.3), "bar_c")
    values = {
        key: float(_UNTOUCHED[(name, key)]) if value is None else value
        for key, value in sliders.items()
    }
    comp = shape.with_parameters(
        intensity=values["intensity"] / _COMPONENT_INTENSITY_FACTOR,
        n=values.get("n", 1.0),
        c=values.get("c", 2.0),
    )
    return comp, sliders


def arm_sliders(rng: np.random.Generator) -> dict[str, float | None]:
    """The intensity and spread sliders of one drawn arm (None: left untouched)."""
    return {
        "intensity": set_slider(
            rng, P_SLIDER_MOVED["arm"], float(rng.uniform(0.1, 1.0)), "arm_intensity"
        ),
        "spread": set_slider(
            rng, P_SLIDER_MOVED["arm"], float(rng.uniform(0.3, 2.0)), "arm_spread"
        ),
    }


def _raw(value: float | None, untouched: str) -> Any:
    """A slider as the export holds it: the default string when untouched, else a number."""
    return untouched if value is None else value


def write_sliders(
    annotation: list[dict[str, Any]],
    component_sliders: Mapping[str, Mapping[str, float | None]],
    arm_sliders: Sequence[Mapping[str, float | None]],
    falloff: float | None,
) -> None:
    """Put each slider's raw value (a number or the untouched string) into the annotation.

    :func:`~gzbcat.zooniverse.annotations.model_to_annotation` writes values computed back
    from the model (e.g. I·1.6, which may differ from the slider's two-decimal value in the
    last bit); a real export holds the slider's own value, so it is written here exactly. Arm
    points are rounded to 0.1 canvas px, as the web interface records them.
    """
    tasks = {task["task"]: task["value"] for task in annotation}
    for name, sliders in component_sliders.items():
        for key, value in sliders.items():
            tasks[name][_SLIDER_INDEX[key]]["value"] = _raw(value, _UNTOUCHED[(name, key)])
    for arm, sliders in zip(tasks["spiral"][0]["value"], arm_sliders, strict=True):
        arm["details"] = [
            {"value": _raw(sliders["intensity"], _ARM_UNTOUCHED["intensity"])},
            {"value": _raw(sliders["spread"], _ARM_UNTOUCHED["spread"])},
        ]
        for point in arm["points"]:  # the web interface records 0.1 canvas px
            point["x"] = round(point["x"], 1)
            point["y"] = round(point["y"], 1)
    tasks["spiral"][1]["value"] = _raw(falloff, _ARM_UNTOUCHED["falloff"])


def falloff_slider(rng: np.random.Generator) -> float | None:
    """The spiral task's falloff slider (moved to 0.3–2.0, or None if left untouched)."""
    return set_slider(rng, P_SLIDER_MOVED["falloff"], float(rng.uniform(0.3, 2.0)), "falloff")


def drawn_arm(
    points: np.ndarray,
    sliders: Mapping[str, float | None],
    falloff: float | None,
    canvas_to_image: float,
) -> SpiralArm:
    """The arm that a drawn poly-line and its sliders mean, as the parser reads it.

    ``points`` are image pixels; the spread slider is in canvas pixels, hence
    ``canvas_to_image`` (image px per canvas px).
    """
    falloff_value = 1.0 if falloff is None else max(falloff, 1e-5)
    intensity = sliders["intensity"]
    if intensity is None:
        intensity = float(_ARM_UNTOUCHED["intensity"])
    spread = sliders["spread"]
    if spread is None:
        spread = float(_ARM_UNTOUCHED["spread"])
    return SpiralArm(
        points=points,
        intensity=intensity / _ARM_INTENSITY_FACTOR,
        spread=spread * canvas_to_image,
        falloff=falloff_value,
    )
