"""Simulated volunteers: what each one draws of a galaxy, and the annotation JSON it becomes.

Volunteers (:func:`draw_volunteer`) draw in *model* space — the true components with the
scatter and biases people show (under-drawn bars, missed and spurious components, hand-drawn
arms over part of the true arm, untouched sliders) — and
:func:`~gzbcat.zooniverse.annotations.model_to_annotation`, the exact inverse of the parser,
turns the drawing into annotation JSON. A small fraction of classifications is junk: empty, or
malformed in a way the parser must reject.

Rates are per classification; scatters of positions are in *canvas* pixels because people place
shapes to a few screen pixels whatever the cutout's size; fractional scatters are log-normal σ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gzbcat.model import GalaxyModel, LogSpiralFit, SersicComponent, SpiralArm
from gzbcat.simulate.sliders import (
    arm_sliders,
    component_sliders,
    drawn_arm,
    falloff_slider,
    write_sliders,
)
from gzbcat.simulate.truth import log_spiral_image_points
from gzbcat.zooniverse.annotations import CanvasFrame, model_to_annotation, sanitize_model

__all__ = [
    "ARM_JITTER_SD_CANVAS",
    "ARM_POINTS_RANGE",
    "ARM_WOBBLE_SD_CANVAS",
    "BAR_LENGTH_BIAS",
    "CENTRE_SD_CANVAS",
    "JUNK_FRACTION",
    "P_ARM_REVERSED",
    "P_DRAW",
    "P_SPURIOUS",
    "P_WHOLE_ARM",
    "P_WRONG_DISK",
    "Q_SD",
    "RE_SD_FRACTION",
    "ROLL_SD_DEG",
    "ArmNote",
    "VolunteerNotes",
    "draw_volunteer",
]

P_DRAW = {"disk": 0.97, "bulge": 0.85, "bar": 0.7, "arm": 0.8}  # a true part is drawn
P_SPURIOUS = {"bulge": 0.06, "bar": 0.03, "arm": 0.03}  # a part that is not there is drawn
P_WRONG_DISK = 0.05  # the disk is drawn around the faint outer envelope instead
BAR_LENGTH_BIAS = 0.8  # volunteers under-draw bars by ~20 % (the notebook's aggregate bar)
CENTRE_SD_CANVAS = {"disk": 6.0, "bulge": 3.0, "bar": 3.5}
RE_SD_FRACTION = {"disk": 0.10, "bulge": 0.15, "bar": 0.10}
ROLL_SD_DEG = {"disk": 6.0, "bulge": 25.0, "bar": 5.0}
Q_SD = {"disk": 0.05, "bulge": 0.07, "bar": 0.04}
ARM_WOBBLE_SD_CANVAS = 2.5  # smooth, hand-drawn deviation from the true ridge
ARM_JITTER_SD_CANVAS = 0.4  # point-to-point jitter of the mouse
ARM_POINTS_RANGE = (20, 150)
P_WHOLE_ARM = 0.3  # the arm is traced over its whole length, not a sub-range
P_ARM_REVERSED = 0.25  # traced from the outside in
JUNK_FRACTION = 0.02  # classifications that are junk: half empty, half malformed


@dataclass(frozen=True)
class ArmNote:
    """Which part of which true arm a drawn arm traces (``truth_arm`` None: a spurious arm)."""

    truth_arm: int | None
    t_min: float
    t_max: float
    reversed: bool
    n_points: int


@dataclass(frozen=True, eq=False)
class VolunteerNotes:
    """What a simulated volunteer meant to draw and drew, for tests and benchmarks.

    Attributes
    ----------
    kind
        ``"normal"``, ``"empty"`` (nothing drawn: parses to an empty model) or
        ``"malformed"`` (the parser must reject it).
    breakage
        For a malformed classification, what is wrong with it.
    parts
        Per component name: ``"true"`` (drawn around the true component), ``"spurious"`` (a
        component the galaxy does not have), ``"wrong"`` (the disk drawn around the outer
        envelope) or ``"missed"`` (a true component not drawn). Components neither in the
        truth nor drawn are absent.
    target
        The noiseless shapes the volunteer aimed at: the true components with the drawing
        biases (bar length × :data:`BAR_LENGTH_BIAS`), image frame; arms are in ``arms``.
    drawn
        The sanitised model the parser returns for this drawing (to rounding; arm points are
        written with 0.1 canvas px, as the web interface records them); None for junk.
    arms
        One note per drawn arm, in drawing order.
    """

    kind: str
    breakage: str | None = None
    parts: dict[str, str] = field(default_factory=dict)
    target: GalaxyModel | None = None
    drawn: GalaxyModel | None = None
    arms: tuple[ArmNote, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (used for ``truth.json``)."""
        return {
            "kind": self.kind,
            "breakage": self.breakage,
            "parts": dict(self.parts),
            "target": None if self.target is None else self.target.to_dict(),
            "drawn": None if self.drawn is None else _rounded_arms(self.drawn.to_dict()),
            "arms": [
                {
                    "truth_arm": a.truth_arm,
                    "t_min": a.t_min,
                    "t_max": a.t_max,
                    "reversed": a.reversed,
                    "n_points": a.n_points,
                }
                for a in self.arms
            ],
        }


def _rounded_arms(model: dict[str, Any]) -> dict[str, Any]:
    """A model dict with arm points rounded to 1e-4 px (the export itself holds 0.1 canvas
    px), which keeps ``truth.json`` small."""
    for arm in model["arms"]:
        arm["points"] = np.round(np.asarray(arm["points"]), 4).tolist()
    return model


def _noisy_component(
    rng: np.random.Generator, name: str, comp: SersicComponent, canvas_to_image: float
) -> SersicComponent:
    """The shape of ``comp`` as a person draws it: centre, size, roll and q scattered."""
    centre_sd = CENTRE_SD_CANVAS[name] * canvas_to_image
    roll_sd = math.radians(ROLL_SD_DEG[name])
    if name == "disk":  # a near-round disk has a poorly defined roll
        roll_sd += math.radians(30.0) * max(0.0, comp.q - 0.85) / 0.15
    q = float(np.clip(comp.q + rng.normal(0.0, Q_SD[name]), 0.1, 1.0))
    return comp.with_parameters(
        mux=comp.mux + float(rng.normal(0.0, centre_sd)),
        muy=comp.muy + float(rng.normal(0.0, centre_sd)),
        roll=float((comp.roll + rng.normal(0.0, roll_sd)) % math.pi),
        re=comp.re * math.exp(float(rng.normal(0.0, RE_SD_FRACTION[name]))),
        q=q,
    )


def _hand_drawn_arm(
    rng: np.random.Generator,
    fit: LogSpiralFit,
    disk: SersicComponent,
    t_min: float,
    t_max: float,
    canvas_to_image: float,
) -> np.ndarray:
    """A noisy poly-line along ``fit`` between disk-plane angles ``t_min`` and ``t_max``.

    The mouse samples the stroke at an uneven pace (gamma-distributed steps of 2–8 canvas px
    on average, 20–150 points); the hand wanders smoothly off the ridge (three random
    sinusoids across the arm) and jitters a little from point to point.
    """
    dense = log_spiral_image_points(fit, disk, np.linspace(t_min, t_max, 400))
    length_canvas = float(np.sum(np.hypot(*np.diff(dense, axis=0).T))) / canvas_to_image
    spacing = float(rng.uniform(2.0, 8.0))
    n = int(np.clip(round(length_canvas / spacing), *ARM_POINTS_RANGE))
    steps = rng.gamma(4.0, 1.0, n - 1)
    frac = np.concatenate(([0.0], np.cumsum(steps) / np.sum(steps)))
    theta = t_min + (t_max - t_min) * frac
    points = log_spiral_image_points(fit, disk, theta)
    # unit normals of the poly-line (central differences)
    tangent = np.gradient(points, axis=0)
    norm = np.hypot(tangent[:, 0], tangent[:, 1])
    norm[norm == 0] = 1.0
    normal = np.column_stack((-tangent[:, 1], tangent[:, 0])) / norm[:, None]
    wobble = np.zeros(n)
    for j in range(1, 4):
        amplitude = float(rng.normal(0.0, ARM_WOBBLE_SD_CANVAS / math.sqrt(3.0)))
        wobble += amplitude * np.sin(j * math.pi * frac + float(rng.uniform(0, 2 * math.pi)))
    points = points + normal * (wobble * canvas_to_image)[:, None]
    return points + rng.normal(0.0, ARM_JITTER_SD_CANVAS * canvas_to_image, points.shape)


def _break(rng: np.random.Generator, annotation: list[dict[str, Any]]) -> str:
    """Make a drawn annotation malformed in one of the ways the parser must reject."""
    tasks = {task["task"]: task["value"] for task in annotation}
    drawn = [name for name in ("disk", "bulge", "bar") if tasks[name][0]["value"]]
    arms = tasks["spiral"][0]["value"]
    options = ["spiral-not-a-list"]
    if drawn:
        options += ["missing-field", "undefined-slider"]
    if arms:
        options.append("null-point")
    breakage = options[int(rng.integers(len(options)))]
    if breakage == "missing-field":
        name = drawn[int(rng.integers(len(drawn)))]
        drawing = tasks[name][0]["value"][0]
        keys = ["x", "y", "angle"] + (["width", "height"] if name == "bar" else ["rx", "ry"])
        del drawing[keys[int(rng.integers(len(keys)))]]
    elif breakage == "undefined-slider":
        name = drawn[int(rng.integers(len(drawn)))]
        tasks[name][2]["value"] = "undefined"  # what a broken client serialised
    elif breakage == "null-point":
        arm = arms[int(rng.integers(len(arms)))]
        arm["points"][int(rng.integers(len(arm["points"])))]["x"] = None
    else:
        tasks["spiral"][0]["value"] = {"0": arms}  # an object where a list belongs
    return breakage


def draw_volunteer(
    rng: np.random.Generator,
    truth: GalaxyModel,
    frame: CanvasFrame,
    *,
    junk_fraction: float = JUNK_FRACTION,
) -> tuple[list[dict[str, Any]], VolunteerNotes]:
    """Simulate one volunteer's classification of ``truth``: annotation JSON and notes.

    The volunteer draws in model space, then
    :func:`~gzbcat.zooniverse.annotations.model_to_annotation` turns the drawing into the
    annotation JSON of spec §2.2 on the subject's canvas, so that gzbcat's parser gives back
    what was drawn (the parse conventions — disk Re × 2, outlines at 3 Re, I / 1.6, the y
    flip and the half-pixel shift — are inverted there, not here).

    What a volunteer does (rates in the module constants): draws the disk (97 %; 5 % of those
    around the faint envelope, 1.4–1.8 × too large), each true bulge (85 %), bar (70 %, about
    20 % too short) and arm (80 %); rarely adds a bulge, bar or arm that is not there; scatters
    centres by a few canvas pixels, Re by ~10 %, roll by ~6° and q by ~0.05; traces each arm
    over a random part of its length (the whole arm 30 % of the time) as a hand-drawn
    poly-line of 20–150 points; moves some sliders (intensities toward the truth) and leaves
    the others at their default strings. A ``junk_fraction`` of classifications is junk: half
    empty (nothing drawn), half malformed (:func:`_break`).

    Parameters
    ----------
    rng
        The generator every draw comes from.
    truth
        The true model, image frame, with arms carrying their log-spiral ``fit``.
    frame
        The subject's canvas geometry (the one the parser will use).
    junk_fraction
        Probability that the classification is junk.

    Returns
    -------
    annotations
        The four task objects (``json.dumps`` gives the export's ``annotations`` cell).
    notes
        What was meant and drawn (:class:`VolunteerNotes`).
    """
    true_disk = truth.disk
    if true_disk is None:
        raise ValueError("a simulated galaxy always has a disk")
    junk = rng.random() < junk_fraction
    if junk and rng.random() < 0.5:
        return model_to_annotation(GalaxyModel(), frame), VolunteerNotes(kind="empty")

    s = 1.0 / frame.cutout_px_per_canvas_px  # canvas px per image px
    canvas_to_image = 1.0 / s
    components = _draw_components(rng, truth, true_disk, canvas_to_image)
    arms = _DrawnArms()
    if (
        components.drawn["disk"] is not None
    ):  # the spiral tool needs a disk (its task label says so)
        arms = _draw_arms(rng, truth.arms, true_disk, canvas_to_image)

    drawn = components.drawn
    model = GalaxyModel(
        disk=drawn["disk"], bulge=drawn["bulge"], bar=drawn["bar"], arms=tuple(arms.arms)
    )
    scales = {
        name: (1.0 if sliders["scale"] is None else sliders["scale"])
        for name, sliders in components.sliders.items()
    }
    annotation = model_to_annotation(model, frame, sliders=scales)
    write_sliders(annotation, components.sliders, arms.sliders, arms.falloff)
    targets = components.targets
    target = GalaxyModel(disk=targets["disk"], bulge=targets["bulge"], bar=targets["bar"])
    kind, breakage = ("malformed", _break(rng, annotation)) if junk else ("normal", None)
    notes = VolunteerNotes(
        kind, breakage, components.parts, target, sanitize_model(model), tuple(arms.notes)
    )
    return annotation, notes


@dataclass
class _DrawnComponents:
    """Disk, bulge and bar as one volunteer drew them, keyed by component name.

    ``parts`` as in :class:`VolunteerNotes`; ``targets`` the shapes aimed at, ``drawn`` the
    components drawn (None: not drawn); ``sliders`` the slider settings of each drawn one.
    """

    parts: dict[str, str] = field(default_factory=dict)
    targets: dict[str, SersicComponent | None] = field(
        default_factory=lambda: {"disk": None, "bulge": None, "bar": None}
    )
    drawn: dict[str, SersicComponent | None] = field(
        default_factory=lambda: {"disk": None, "bulge": None, "bar": None}
    )
    sliders: dict[str, dict[str, float | None]] = field(default_factory=dict)


def _draw_components(
    rng: np.random.Generator,
    truth: GalaxyModel,
    true_disk: SersicComponent,
    canvas_to_image: float,
) -> _DrawnComponents:
    """Draw (or miss) each true disk, bulge and bar, and rarely a bulge or bar not there."""
    components = _DrawnComponents()
    for name in ("disk", "bulge", "bar"):
        true_comp: SersicComponent | None = getattr(truth, name)
        part, aim = _aim(rng, name, true_comp, true_disk)
        if part is not None:
            components.parts[name] = part
        if aim is None:
            continue
        components.targets[name] = aim
        shape = _noisy_component(rng, name, aim, canvas_to_image)
        comp, sliders = component_sliders(
            rng, name, shape, true_comp if part != "spurious" else None
        )
        if name == "bulge":
            comp = comp.with_parameters(c=2.0)
        components.drawn[name] = comp
        components.sliders[name] = sliders
    return components


def _aim(
    rng: np.random.Generator,
    name: str,
    true_comp: SersicComponent | None,
    true_disk: SersicComponent,
) -> tuple[str | None, SersicComponent | None]:
    """What a volunteer makes of one component: its part in :class:`VolunteerNotes` and the
    shape they aim at (None: nothing drawn; a part of None: neither there nor drawn)."""
    if true_comp is not None:
        if rng.random() >= P_DRAW[name]:
            return "missed", None
        aim = true_comp
        if name == "bar":
            aim = aim.with_parameters(re=aim.re * BAR_LENGTH_BIAS)
        if name == "disk" and rng.random() < P_WRONG_DISK:
            return "wrong", aim.with_parameters(
                re=aim.re * float(rng.uniform(1.4, 1.8)),
                q=min(1.0, aim.q + float(rng.uniform(0.0, 0.2))),
            )
        return "true", aim
    if name == "disk" or rng.random() >= P_SPURIOUS[name]:
        return None, None
    if name == "bulge":
        re = true_disk.re * float(rng.uniform(0.05, 0.15))
        return "spurious", true_disk.with_parameters(re=re, q=float(rng.uniform(0.7, 1.0)))
    return "spurious", true_disk.with_parameters(
        re=true_disk.re * float(rng.uniform(0.25, 0.5)),
        q=float(rng.uniform(0.2, 0.45)),
        roll=float(rng.uniform(0.0, math.pi)),
    )


@dataclass
class _DrawnArms:
    """The arms one volunteer drew, with a note and the slider settings of each, and the
    spiral task's falloff slider (None: untouched, or no arm tool used)."""

    arms: list[SpiralArm] = field(default_factory=list)
    notes: list[ArmNote] = field(default_factory=list)
    sliders: list[dict[str, float | None]] = field(default_factory=list)
    falloff: float | None = None


def _draw_arms(
    rng: np.random.Generator,
    true_arms: tuple[SpiralArm, ...],
    true_disk: SersicComponent,
    canvas_to_image: float,
) -> _DrawnArms:
    """Trace each true arm the volunteer sees, and rarely one that is not there."""
    candidates = _arms_to_draw(rng, true_arms, true_disk)
    drawn = _DrawnArms(falloff=falloff_slider(rng))
    for index, fit in candidates:
        lo, hi = _traced_range(rng, fit, spurious=index is None)
        points = _hand_drawn_arm(rng, fit, true_disk, lo, hi, canvas_to_image)
        # Arms are traced outward from the centre, except by some volunteers.
        outward = fit.chirality > 0  # radius grows with θ for positive chirality
        reverse = rng.random() < P_ARM_REVERSED
        if outward == reverse:
            points = points[::-1]
        sliders = arm_sliders(rng)
        drawn.arms.append(drawn_arm(points, sliders, drawn.falloff, canvas_to_image))
        drawn.notes.append(ArmNote(index, lo, hi, bool(reverse), len(points)))
        drawn.sliders.append(sliders)
    return drawn


def _arms_to_draw(
    rng: np.random.Generator, true_arms: tuple[SpiralArm, ...], true_disk: SersicComponent
) -> list[tuple[int | None, LogSpiralFit]]:
    """(index of the true arm, its log spiral) of each arm to trace; index None: spurious."""
    candidates: list[tuple[int | None, LogSpiralFit]] = [
        (index, arm.fit)
        for index, arm in enumerate(true_arms)
        if arm.fit is not None and rng.random() < P_DRAW["arm"]
    ]
    if rng.random() < P_SPURIOUS["arm"]:
        theta0 = float(rng.uniform(0.0, 2 * math.pi))
        fit = LogSpiralFit(
            a=true_disk.re * float(rng.uniform(0.5, 1.2)) * math.exp(-theta0 * 0.3),
            pitch_angle_deg=math.degrees(math.atan(0.3)),
            chirality=1,
            t_min=theta0,
            t_max=theta0 + float(rng.uniform(0.6, 1.2)),
        )
        candidates.append((None, fit))
    return candidates


def _traced_range(
    rng: np.random.Generator, fit: LogSpiralFit, *, spurious: bool
) -> tuple[float, float]:
    """Disk-plane angles between which a volunteer traces an arm: nearly all of it (always
    for a spurious arm, else with :data:`P_WHOLE_ARM`) or a random 40–95 % of it."""
    span = fit.t_max - fit.t_min
    if spurious or rng.random() < P_WHOLE_ARM:
        lo = fit.t_min + span * float(rng.uniform(0.0, 0.03))
        hi = fit.t_max - span * float(rng.uniform(0.0, 0.03))
    else:
        fraction = float(rng.uniform(0.4, 0.95))
        lo = fit.t_min + span * (1 - fraction) * float(rng.uniform(0.0, 1.0))
        hi = lo + span * fraction
    return lo, hi
