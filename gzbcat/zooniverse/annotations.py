"""Galaxy Builder annotation JSON → :class:`~gzbcat.model.GalaxyModel` in the image frame.

A Zooniverse classification export holds, per volunteer classification, an ``annotations``
JSON list of four tasks (``disk``, ``bulge``, ``bar``, ``spiral``; spec §2.2). Each task's
``value`` is a positional list: the drawing tool's output first, then the sliders. This module
turns one such list into a model in the image frame of DESIGN §6 (``x`` = cutout column,
``y`` = cutout row, pixel centres at integers, ``roll`` in [0, π)), in four steps:

1. **Drawing → canvas parameters** (spec §3.3 ellipse, §3.4 bar rectangle, §3.5 arms): the
   factors 1/3 (size), ×2 (disk size), 1/1.6 (component intensity) and 1/0.8 (arm intensity)
   undo the browser renderer's conventions.
2. **Canvas → cutout** (§3.7): the canvas is y-down, the image frame y-up, so every y is
   flipped with the canvas *height* (the reference mixed width and height, §12.1 #10); then
   positions, sizes, arm points and spreads are multiplied by
   :attr:`CanvasFrame.cutout_px_per_canvas_px`.
3. **Rotation correction** (§3.8): positions rotate by −r about the image centre and
   ``roll ← roll − r`` (valid for any r, not only multiples of π/2).
4. **Sanitising** (§4.1, :func:`sanitize_model`): fold q > 1, clip to the bounds table, roll
   mod π.

Two methods (spec §13) differ in exactly two published quirks, kept so that results can be
compared one-to-one with the original catalogue:

``corrected`` (default)
    A slider moved to numeric 0 means 0; canvas coordinates (pixel *edges*, 0..512) map to
    cutout pixel *centres* (``x·s − 0.5``), and rotation is about the centre of the pixel grid,
    ``((W−1)/2, (H−1)/2)``.
``reference``
    ``float(value or default)``: a numeric 0 on the scale, intensity, spread or falloff slider
    becomes that slider's default (§3.3 "falsy-zero quirk"); no half-pixel shift, and rotation
    is about ``(W/2, H/2)`` as in the reference. The reference's roll update was ``roll + r``;
    here both methods use ``roll − r``, which is the same modulo π for the only corrections
    the reference ever produced (0 and 3π/2).

So the two methods give the same shapes, and positions that differ by exactly 0.5 px.

:func:`model_to_annotation` (:mod:`gzbcat.zooniverse.drawing`) is the exact inverse; the canvas
geometry, the browser's constants and the sliders are in :mod:`gzbcat.zooniverse.canvas`.

The module is pure (numpy only, no I/O) and fast: scalar work uses :mod:`math`, arm points are
converted and transformed as whole arrays.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import numpy as np

from gzbcat.model import (
    ARM_BOUNDS,
    COMPONENT_BOUNDS,
    MAX_ARM_POINTS,
    GalaxyModel,
    Method,
    SersicComponent,
    SpiralArm,
    wrap_roll,
)
from gzbcat.zooniverse.canvas import (
    ARM_INTENSITY_FACTOR,
    ARM_INTENSITY_SLIDER,
    ARM_SPREAD_SLIDER,
    COMPONENT_INTENSITY_FACTOR,
    COMPONENT_SLIDERS,
    DISK_SIZE_CORRECTION,
    FALLOFF_FLOOR,
    FALLOFF_SLIDER,
    FAR_CANVAS_WIDTHS,
    PARSING_RULES,
    SIZE_FACTOR,
    SIZE_FLOOR,
    SLIDER_LIMIT,
    CanvasFrame,
    CanvasTransform,
    ParsingRules,
    Slider,
    canvas_transform,
    to_image,
)
from gzbcat.zooniverse.drawing import model_to_annotation

__all__ = [
    "ARM_BOUNDS",
    "COMPONENT_BOUNDS",
    "METHODS",
    "PARSING_RULES",
    "AnnotationError",
    "CanvasFrame",
    "Method",
    "ParsingRules",
    "model_to_annotation",
    "parse_annotation",
    "sanitize_model",
]

METHODS: tuple[Method, ...] = tuple(Method)
"""Parsing methods: ``corrected`` fixes the reference's quirks, ``reference`` keeps them."""

_PARAMETER_INDEX = {"mux": 0, "muy": 1, "roll": 2, "re": 3, "q": 4, "intensity": 5, "n": 6, "c": 7}
# Bounds as (index, low, high) triples, so sanitising a parsed component is a short loop.
_BOUND_TRIPLES = {
    name: tuple((_PARAMETER_INDEX[p], lo, hi) for p, (lo, hi) in bounds.items())
    for name, bounds in COMPONENT_BOUNDS.items()
}


class AnnotationError(ValueError):
    """An annotation that cannot be parsed; the message says which task/drawing/field and what
    was wrong, so that it can be stored as the classification's ``parse_error``."""


# ------------------------------------------------------------------------------- sliders


def _number(raw: Any, what: str) -> float:
    """``float(raw)`` for a JSON number or numeric string, else an :class:`AnnotationError`."""
    kind = type(raw)
    if kind is float or kind is int:
        value = float(raw)
    elif kind is str:
        try:
            value = float(raw)
        except ValueError:
            raise AnnotationError(f"{what} is not a number: {raw!r}") from None
    else:  # bool, dict, list, None: not a slider value or coordinate
        raise AnnotationError(f"{what} is not a number: {raw!r}")
    if not math.isfinite(value):
        raise AnnotationError(f"{what} is not a finite number: {raw!r}")
    return value


def _slider_value(raw: Any, slider: Slider, zero_means_default: bool, what: str) -> float:
    """A slider's value: untouched ones hold a string, moved ones a number (spec §2.2)."""
    if raw is None:
        return slider.missing
    if zero_means_default and slider.falsy is not None and not raw:
        return slider.falsy  # the reference's float(value or default): numeric 0 → default
    if raw == "":
        return slider.missing  # no value at all: as if the entry were absent
    value = _number(raw, what)
    if abs(value) > SLIDER_LIMIT:
        raise AnnotationError(f"{what} is {raw!r}, beyond any slider's range (±{SLIDER_LIMIT:g})")
    return value


def _task_slider(
    values: list, index: int, slider: Slider, task: str, zero_means_default: bool
) -> float:
    """The slider at ``values[index]`` of a task; absent entries mean the ``missing`` value."""
    if index >= len(values):
        return slider.missing
    entry = values[index]
    if not isinstance(entry, dict):
        raise AnnotationError(f"{task} task: value[{index}] is not a slider object: {entry!r}")
    name = entry.get("task") or slider.name
    return _slider_value(
        entry.get("value"), slider, zero_means_default, f"{task} slider {name!r} (value[{index}])"
    )


# ------------------------------------------------------------------------------- parsing


_TASK_NAMES = ("disk", "bulge", "bar", "spiral")
# Beta-era exports keyed tasks T0..T3 in workflow order (spec §2.3): an explicit assumption.
_LEGACY_TASK_NAMES = {"T0": "disk", "T1": "bulge", "T2": "bar", "T3": "spiral"}


def _tasks(annotations: Sequence[Any]) -> dict[str, list]:
    """Each known task's ``value`` list, keyed by component name."""
    tasks: dict[str, list] = {}
    for i, task in enumerate(annotations):
        if not isinstance(task, dict):
            raise AnnotationError(f"annotation task {i} is not an object: {task!r:.80}")
        key = task.get("task")
        if not isinstance(key, str):
            continue
        name = key if key in _TASK_NAMES else _LEGACY_TASK_NAMES.get(key)
        if name is None:
            continue  # a task this parser does not model (e.g. a comment box)
        if name in tasks:
            raise AnnotationError(f"{name} task appears more than once (as {key!r})")
        value = task.get("value")
        if value is None:
            value = []
        if not isinstance(value, list):
            raise AnnotationError(f"{name} task: 'value' is not a list: {value!r:.80}")
        tasks[name] = value
    if not tasks:
        found = [t.get("task") for t in annotations if isinstance(t, dict)]
        raise AnnotationError(
            f"annotations have none of the tasks disk, bulge, bar, spiral (or T0..T3): {found}"
        )
    return tasks


def _drawings(values: list, task: str) -> list:
    """The drawing tool's list of drawings (``value[0].value``); empty when nothing drawn."""
    if not values:
        return []
    tool = values[0]
    if not isinstance(tool, dict):
        raise AnnotationError(f"{task} task: value[0] is not a drawing-tool object: {tool!r:.80}")
    drawings = tool.get("value")
    if drawings is None:
        return []
    if not isinstance(drawings, list):
        raise AnnotationError(f"{task} task: the drawings are not a list: {drawings!r:.80}")
    return drawings


def _field(drawing: dict, key: str, what: str) -> float:
    try:
        raw = drawing[key]
    except KeyError:
        raise AnnotationError(f"{what}: missing field {key!r}") from None
    return _number(raw, f"{what}: field {key!r}")


def _near(value: float, t: CanvasTransform, what: str, key: str) -> float:
    """``value`` (canvas px), refused when it lies beyond ``t.far``: no galaxy drawing does."""
    if abs(value) > t.far:
        raise AnnotationError(
            f"{what}: field {key!r} = {value:g} lies far outside the canvas "
            f"(beyond {FAR_CANVAS_WIDTHS:g} canvas widths, {t.far:g} px)"
        )
    return value


def _size(
    drawing: dict, key: str, t: CanvasTransform, degenerate_allowed: bool, what: str
) -> float:
    """A drawn size (canvas px): negative or zero sizes are refused unless the method reads
    them as the reference does (magnitude, floored later)."""
    value = _near(_field(drawing, key, what), t, what, key)
    if value <= 0 and not degenerate_allowed:
        kind = "negative" if value < 0 else "zero"
        raise AnnotationError(f"{what}: field {key!r} = {value:g} is a {kind} size")
    return value


def _component(
    name: str,
    drawing: Any,
    values: list,
    t: CanvasTransform,
    zero_means_default: bool,
    degenerate_allowed: bool,
) -> list[float]:
    """One disk, bulge or bar drawing → [mux, muy, roll, re, q, intensity, n, c], image frame,
    not yet sanitised (spec §3.3, §3.4, §3.7, §3.8)."""
    what = f"{name} drawing"
    if not isinstance(drawing, dict):
        raise AnnotationError(f"{what} is not an object: {drawing!r:.80}")
    x = _near(_field(drawing, "x", what), t, what, "x")
    y = _near(_field(drawing, "y", what), t, what, "y")
    angle = _field(drawing, "angle", what)
    if name == "bar":
        # A rectangle: (x, y) is the unrotated top-left corner, rotation is about the centre,
        # and its angle sign is opposite to the ellipse's (spec §3.4).
        rx = _size(drawing, "width", t, degenerate_allowed, what)
        ry = _size(drawing, "height", t, degenerate_allowed, what)
        x += rx / 2
        y += ry / 2
        angle = -angle
    else:
        rx = _size(drawing, "rx", t, degenerate_allowed, what)
        ry = _size(drawing, "ry", t, degenerate_allowed, what)
    # Where the method allows it, a negative size is the same shape as its magnitude (the
    # centre above already used the signed value, as the reference does).
    rx = abs(rx)
    ry = abs(ry)

    sliders = COMPONENT_SLIDERS[name]
    scale = _task_slider(values, 1, sliders[0], name, zero_means_default)
    i_raw = _task_slider(values, 2, sliders[1], name, zero_means_default)
    n = _task_slider(values, 3, sliders[2], name, zero_means_default)
    c = _task_slider(values, 4, sliders[3], name, zero_means_default)

    if rx > ry:  # strict: a circle takes the +0 branch (spec §3.3)
        major, minor = rx, ry
        angle += 90.0
    else:
        major, minor = ry, rx
    q = minor / major if major > 0 else 1.0  # a point: any q is the same shape
    re = max(SIZE_FLOOR, major * scale) / SIZE_FACTOR
    if name == "disk":
        re *= DISK_SIZE_CORRECTION
    mux, muy = to_image(t, x, y)
    roll = math.radians(angle) - t.rotation
    return [mux, muy, roll, re * t.s, q, i_raw / COMPONENT_INTENSITY_FACTOR, n, c]


_X = itemgetter("x")
_Y = itemgetter("y")


def _arm_points(points: Any, t: CanvasTransform, what: str) -> np.ndarray:
    """An arm's ``[{x, y}, …]`` → (N, 2) float array in the image frame.

    The dictionaries are read with C-level ``map``/``itemgetter`` and transformed with one
    matrix product; only a malformed arm takes the slow path that finds the bad point.
    """
    if not isinstance(points, list):
        raise AnnotationError(f"{what}: field 'points' is not a list: {points!r:.80}")
    n = len(points)
    if n == 0:
        return np.empty((0, 2))
    if n > MAX_ARM_POINTS:
        raise AnnotationError(
            f"{what}: {n} points, more than any drawn arm has (at most {MAX_ARM_POINTS})"
        )
    try:
        xy = np.array([list(map(_X, points)), list(map(_Y, points))], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        xy = None
    if xy is None or xy.shape != (2, n) or not np.isfinite(xy).all():
        xy = _read_points_slowly(points, what)
    farthest = float(np.abs(xy).max())
    if farthest > t.far:
        j = int(np.abs(xy).max(axis=0).argmax())
        _near(farthest, t, f"{what}: point {j}", "x" if abs(xy[0, j]) > t.far else "y")
    out = np.empty((n, 2))
    np.dot(xy.T, t.matrix_t, out=out)
    out += t.shift
    return out


def _read_points_slowly(points: list, what: str) -> np.ndarray:
    """Read the points one by one, raising an :class:`AnnotationError` at the first bad one."""
    xy = np.empty((2, len(points)))
    for j, point in enumerate(points):
        if not isinstance(point, dict):
            raise AnnotationError(f"{what}: point {j} is not an object: {point!r:.80}")
        xy[0, j] = _field(point, "x", f"{what}: point {j}")
        xy[1, j] = _field(point, "y", f"{what}: point {j}")
    return xy


def _detail(
    details: list, index: int, slider: Slider, zero_means_default: bool, what: str
) -> float:
    if index >= len(details):
        return slider.missing
    entry = details[index]
    if not isinstance(entry, dict):
        raise AnnotationError(f"{what}: details[{index}] is not an object: {entry!r:.80}")
    return _slider_value(entry.get("value"), slider, zero_means_default, f"{what}: {slider.name}")


def _arms(
    values: list, t: CanvasTransform, zero_means_default: bool
) -> list[tuple[np.ndarray, float, float]]:
    """The spiral task's arms → [(points, intensity, spread)], image frame and px, unsanitised.

    Arms with no points are dropped; every other arm is kept, whatever its length.
    """
    arms = []
    for k, arm in enumerate(_drawings(values, "spiral")):
        what = f"spiral arm {k}"
        if not isinstance(arm, dict):
            raise AnnotationError(f"{what} is not an object: {arm!r:.80}")
        if "points" not in arm:
            raise AnnotationError(f"{what}: missing field 'points'")
        points = _arm_points(arm["points"], t, what)
        details = arm.get("details")
        if details is None:
            details = []
        elif not isinstance(details, list):
            raise AnnotationError(f"{what}: field 'details' is not a list: {details!r:.80}")
        intensity = (
            _detail(details, 0, ARM_INTENSITY_SLIDER, zero_means_default, what)
            / ARM_INTENSITY_FACTOR
        )
        spread = _detail(details, 1, ARM_SPREAD_SLIDER, zero_means_default, what)
        if len(points) == 0:
            continue  # nothing drawn; shorter arms are filtered later, in aggregation
        arms.append((points, intensity, spread * t.s))
    return arms


def parse_annotation(
    annotations: str | bytes | Sequence[Any],
    frame: CanvasFrame,
    *,
    method: Method = Method.CORRECTED,
    sanitize: bool = True,
) -> GalaxyModel:
    """Parse one classification's annotations into a volunteer model in the image frame.

    Parameters
    ----------
    annotations
        The ``annotations`` column of a classification export: a JSON string, or the decoded
        list of task objects. Tasks are found by their ``task`` name (``disk``, ``bulge``,
        ``bar``, ``spiral``); beta-era names ``T0``..``T3`` map to them in that order.
        Other tasks are ignored.
    frame
        The subject's canvas → cutout geometry.
    method
        ``"corrected"`` (default) or ``"reference"``; see the module docstring.
    sanitize
        Apply :func:`sanitize_model` (the default, and what the catalogue stores). ``False``
        returns the raw transform, to inspect what sanitising changed.

    Returns
    -------
    GalaxyModel
        A component whose drawing list is empty is ``None``. Every drawn arm with at least one
        point is kept (short and self-intersecting arms are aggregation's business).

    Raises
    ------
    AnnotationError
        Invalid JSON, an unexpected structure, a missing drawing field or a value that is not
        a finite number; the message names the task, drawing and field.
    ValueError
        An unknown ``method``.
    """
    t = canvas_transform(frame, method)
    zero_means_default = PARSING_RULES[method].zero_means_default
    if isinstance(annotations, (str, bytes, bytearray)):
        try:
            annotations = json.loads(annotations)
        except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
            raise AnnotationError(f"annotations are not valid JSON: {error}") from None
    if not isinstance(annotations, (list, tuple)):
        raise AnnotationError(
            f"annotations must be a list of tasks, not {type(annotations).__name__}"
        )
    tasks = _tasks(annotations)

    parts: dict[str, SersicComponent | None] = {}
    for name in ("disk", "bulge", "bar"):
        values = tasks.get(name)
        drawings = _drawings(values, name) if values else []
        if not drawings:
            parts[name] = None
            continue
        # The tools allow one shape; should a list hold more, the first is the drawing.
        params = _component(
            name,
            drawings[0],
            values,  # type: ignore[arg-type]
            t,
            zero_means_default,
            PARSING_RULES[method].degenerate_shapes_allowed,
        )
        if sanitize:
            params = _sanitize_params(name, params)
        parts[name] = SersicComponent(*params)

    arms: tuple[SpiralArm, ...] = ()
    spiral = tasks.get("spiral")
    if spiral:
        drawn = _arms(spiral, t, zero_means_default)
        if drawn:
            falloff = max(
                _task_slider(spiral, 1, FALLOFF_SLIDER, "spiral", zero_means_default), FALLOFF_FLOOR
            )
            if sanitize:
                arms = tuple(
                    SpiralArm(points, *_sanitize_arm_params(intensity, spread, falloff))
                    for points, intensity, spread in drawn
                )
            else:
                arms = tuple(SpiralArm(p, i, s, falloff) for p, i, s in drawn)
    return GalaxyModel(disk=parts["disk"], bulge=parts["bulge"], bar=parts["bar"], arms=arms)


# ------------------------------------------------------------------------------- sanitising


def _clip(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


def _sanitize_params(name: str, p: list[float]) -> list[float]:
    """Spec §4.1 on [mux, muy, roll, re, q, intensity, n, c] (modified in place)."""
    if p[4] > 1:  # the "minor" axis is the longer one: swap the axes
        p[3] *= p[4]
        p[4] = 1 / p[4]
        p[2] += math.pi / 2
    for index, low, high in _BOUND_TRIPLES[name]:
        value = p[index]
        p[index] = low if value < low else high if value > high else value
    p[2] = wrap_roll(p[2])
    return p


def _sanitize_arm_params(
    intensity: float, spread: float, falloff: float
) -> tuple[float, float, float]:
    return (
        _clip(intensity, *ARM_BOUNDS["intensity"]),
        _clip(spread, *ARM_BOUNDS["spread"]),
        _clip(falloff, *ARM_BOUNDS["falloff"]),
    )


def sanitize_model(model: GalaxyModel) -> GalaxyModel:
    """Bring a model into the catalogue's canonical, bounded form (spec §4.1).

    For each of disk, bulge and bar: if ``q > 1`` the axes are swapped (``re ← re·q``,
    ``q ← 1/q``, ``roll ← roll + π/2``: the same shape, described from its true major axis);
    every parameter with a bound in :data:`COMPONENT_BOUNDS` is clipped to it; ``roll`` is
    reduced modulo π (a Sérsic component is symmetric under a half turn). Each arm's intensity,
    spread and falloff are clipped to :data:`ARM_BOUNDS`. It runs on every volunteer model and
    on the aggregate, so both live in one parameter space. Errors and arm fits are kept.
    """
    parts: dict[str, SersicComponent | None] = {}
    for name in ("disk", "bulge", "bar"):
        comp: SersicComponent | None = getattr(model, name)
        if comp is None:
            parts[name] = None
            continue
        params = list(comp.parameters().values())  # in SersicComponent's field order
        parts[name] = SersicComponent(*_sanitize_params(name, params), errors=comp.errors)
    arms = tuple(
        SpiralArm(
            arm.points,
            *_sanitize_arm_params(float(arm.intensity), float(arm.spread), float(arm.falloff)),
            fit=arm.fit,
        )
        for arm in model.arms
    )
    return GalaxyModel(disk=parts["disk"], bulge=parts["bulge"], bar=parts["bar"], arms=arms)
