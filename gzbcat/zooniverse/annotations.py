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

:func:`model_to_annotation` is the exact inverse (drawing a model as a volunteer would have),
for the synthetic-volunteer simulator and for round-trip tests.

The module is pure (numpy only, no I/O) and fast: scalar work uses :mod:`math`, arm points are
converted and transformed as whole arrays.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np

from gzbcat.model import (
    ARM_BOUNDS,
    COMPONENT_BOUNDS,
    GalaxyModel,
    Method,
    MethodTable,
    SersicComponent,
    SpiralArm,
    wrap_roll,
)

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


@dataclass(frozen=True)
class ParsingRules:
    """The two published quirks a parsing method keeps or fixes (see the module docstring).

    Attributes
    ----------
    pixel_centre_offset
        Pixels subtracted after scaling canvas coordinates: 0.5 maps canvas pixel *edges* to
        cutout pixel *centres*; 0 keeps the reference's edge-based positions.
    zero_means_default
        A slider moved to numeric 0 reads as the slider's default (the reference's
        ``float(value or default)``).
    """

    pixel_centre_offset: float
    zero_means_default: bool


PARSING_RULES: MethodTable[ParsingRules] = MethodTable.from_columns(
    ParsingRules,
    # switch = (corrected, reference)
    pixel_centre_offset=(0.5, 0.0),
    zero_means_default=(False, True),
)

_PARAMETER_INDEX = {"mux": 0, "muy": 1, "roll": 2, "re": 3, "q": 4, "intensity": 5, "n": 6, "c": 7}
# Bounds as (index, low, high) triples, so sanitising a parsed component is a short loop.
_BOUND_TRIPLES = {
    name: tuple((_PARAMETER_INDEX[p], lo, hi) for p, (lo, hi) in bounds.items())
    for name, bounds in COMPONENT_BOUNDS.items()
}

# Browser-renderer constants (spec §3.3, §3.5, Appendix A).
_SIZE_FACTOR = 3.0  # the drawn outline sits at 3 Re
_DISK_SIZE_CORRECTION = 2.0  # empirical ×2 on the disk Re
_COMPONENT_INTENSITY_FACTOR = 1.6  # 2 (half amplitude at Re) × 0.8 (galaxy shown at 0.8)
_ARM_INTENSITY_FACTOR = 0.8
_SIZE_FLOOR = 1e-5  # canvas px, applied to major·scale before the /3
_FALLOFF_FLOOR = 1e-5


class AnnotationError(ValueError):
    """An annotation that cannot be parsed; the message says which task/drawing/field and what
    was wrong, so that it can be stored as the classification's ``parse_error``."""


# ------------------------------------------------------------------------------- the frame


@dataclass(frozen=True)
class CanvasFrame:
    """How the drawing canvas maps onto the cutout image of one subject.

    Attributes
    ----------
    image_width, image_height
        Cutout size ``W`` (columns) and ``H`` (rows), image pixels.
    canvas_width
        Canvas width in canvas pixels (``imageWidth`` of the difference JSON; 512).
    canvas_height
        Canvas height in canvas pixels. ``None`` means ``int(H / W · canvas_width)``, the
        height the subject-creation code gave the PNG (spec §3.1); it is resolved at
        construction, so the attribute is always a number afterwards.
    rotation_correction
        Radians the uploaded image was rotated by (spec §3.8): drawings are rotated by −r
        about the image centre and ``roll ← roll − r``.
    """

    image_width: int
    image_height: int
    canvas_width: float = 512
    canvas_height: float | None = None
    rotation_correction: float = 0.0

    def __post_init__(self) -> None:
        if not (self.image_width > 0 and self.image_height > 0):
            raise ValueError(
                f"image size must be positive, not {self.image_width}×{self.image_height}"
            )
        if not (math.isfinite(self.canvas_width) and self.canvas_width > 0):
            raise ValueError(f"canvas_width must be positive, not {self.canvas_width}")
        if self.canvas_height is None:
            height = int(self.image_height / self.image_width * self.canvas_width)
            object.__setattr__(self, "canvas_height", float(height))
        elif not (math.isfinite(self.canvas_height) and self.canvas_height > 0):
            raise ValueError(f"canvas_height must be positive, not {self.canvas_height}")
        if not math.isfinite(self.rotation_correction):
            raise ValueError(f"rotation_correction must be finite, not {self.rotation_correction}")

    @property
    def cutout_px_per_canvas_px(self) -> float:
        """Cutout pixels per canvas pixel, ``W / canvas_width`` (the one scale of spec §3.7;
        the notebook's ``size_diff``, the inverse of the production script's)."""
        return self.image_width / self.canvas_width


class _Transform(NamedTuple):
    """Precomputed canvas → image map of one (frame, method): ``p = M·(x, y) + b``.

    ``M = R(−r)·diag(s, −s)`` and ``b = R(−r)·(u − c) + c`` with ``u = (−o, Hc·s − o)``: flip
    y with the canvas height ``Hc``, scale by ``s``, shift by the half-pixel ``o``, then rotate
    by −r about the image centre ``c`` (spec §3.7, §3.8), all in one affine map so that arm
    points are transformed with one matrix product.
    """

    s: float  # cutout px per canvas px
    rotation: float  # rad
    m00: float
    m01: float
    m10: float
    m11: float
    b0: float
    b1: float
    matrix_t: np.ndarray  # Mᵀ, (2, 2), for (N, 2) @ Mᵀ
    shift: np.ndarray  # b, (2,)


def _cos_sin(angle: float) -> tuple[float, float]:
    """cos and sin, exact for multiples of π/2 (the usual corrections), so that a rotated
    position carries no 1e-16 noise into exact comparisons."""
    quarter = angle / (math.pi / 2)
    k = round(quarter)
    if abs(quarter - k) < 1e-12:
        return ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))[k % 4]
    return math.cos(angle), math.sin(angle)


@lru_cache(maxsize=4096)
def _transform(frame: CanvasFrame, method: Method) -> _Transform:
    offset = PARSING_RULES[method].pixel_centre_offset
    # Reference coordinates are pixel-edge based, where the image centre is (W/2, H/2);
    # corrected coordinates are pixel-centre based, where it is ((W-1)/2, (H-1)/2).
    cx = frame.image_width / 2 - offset
    cy = frame.image_height / 2 - offset
    r = float(frame.rotation_correction)
    cos, sin = _cos_sin(r)
    s = frame.cutout_px_per_canvas_px
    assert frame.canvas_height is not None  # resolved in __post_init__
    u0, u1 = -offset - cx, float(frame.canvas_height) * s - offset - cy
    m00, m01, m10, m11 = cos * s, -sin * s, -sin * s, -cos * s
    b0 = cos * u0 + sin * u1 + cx
    b1 = -sin * u0 + cos * u1 + cy
    matrix_t = np.array([[m00, m10], [m01, m11]])
    shift = np.array([b0, b1])
    matrix_t.flags.writeable = False
    shift.flags.writeable = False
    return _Transform(s, r, m00, m01, m10, m11, b0, b1, matrix_t, shift)


def _to_image(t: _Transform, x: float, y: float) -> tuple[float, float]:
    """Canvas point (y down) → image point: flip, scale, half-pixel shift, rotate by −r."""
    return t.m00 * x + t.m01 * y + t.b0, t.m10 * x + t.m11 * y + t.b1


def _to_canvas(t: _Transform, x: float, y: float) -> tuple[float, float]:
    """The inverse of :func:`_to_image` (``M⁻¹ = diag(1/s, −1/s)·R(r)``)."""
    dx, dy = x - t.b0, y - t.b1
    s2 = t.s * t.s
    return (t.m00 * dx + t.m10 * dy) / s2, (t.m01 * dx + t.m11 * dy) / s2


def _points_to_canvas(t: _Transform, points: np.ndarray) -> np.ndarray:
    """:func:`_to_canvas` on an (N, 2) array (``M⁻¹ = Mᵀ/s²``, M being s times a rotation
    and a reflection)."""
    return (points - t.shift) @ t.matrix_t.T / (t.s * t.s)


# ------------------------------------------------------------------------------- sliders


class _Slider(NamedTuple):
    """One slider: its export id, and what an absent, falsy or untouched value means.

    ``missing`` is used when the entry, or its value, is absent (``None``). ``falsy`` is the
    reference's ``value or default`` replacement (``None``: no such quirk for this slider).
    ``untouched`` is the string an untouched slider holds in the export.
    """

    name: str
    missing: float
    falsy: float | None
    untouched: str


# Positions 1.. of each component task's value list (spec §2.2). Sérsic n and boxiness c are
# read where present (spec §3.3: "n = float(v[3]) if present else 1, c = v[4] … else 2").
_SCALE = _Slider("scaleSlider", 1.0, 1.0, "1")
_N = _Slider("n", 1.0, None, "1")
_C = _Slider("c", 2.0, None, "2")
_COMPONENT_SLIDERS: dict[str, tuple[_Slider, ...]] = {
    "disk": (_SCALE, _Slider("T13", 0.2, 1.0, "0.2"), _N, _C),
    "bulge": (
        _SCALE,
        _Slider("intensitySlider", 0.2, 1.0, "0.5"),
        _Slider("sersicSlider", 1.0, None, "1"),
        _C,
    ),
    "bar": (
        _SCALE,
        _Slider("T16", 0.2, 1.0, "0.2"),
        _Slider("T15", 1.0, None, "0.5"),
        _Slider("shapeSlider", 2.0, None, "2"),
    ),
}
# How many slider entries the real export carries per component (model_to_annotation).
_EXPORTED_SLIDERS = {"disk": 2, "bulge": 3, "bar": 4}
_FALLOFF = _Slider("falloffSlider", 1.0, 1.0, "1")
# An arm's intensity has no `or` fallback in the reference (float(details[0]) / 0.8); when
# the entry is absent the untouched default is used. Its spread falls back to 0.5 (`or 0.5`).
_ARM_INTENSITY = _Slider("details[0] (intensity)", 0.75, None, "0.75")
_ARM_SPREAD = _Slider("details[1] (spread)", 0.5, 0.5, "1")

_DRAWING_TASK = {"disk": "drawDisk", "bulge": "drawBulge", "bar": "drawBar", "spiral": "drawSpiral"}
_TASK_LABELS = {
    "disk": "Draw an ellipse around the outer edge of the galaxy",
    "bulge": "If the galaxy has a bulge, draw it!",
    "bar": "Draw on a galaxy bar if you see one",
    "spiral": "Draw any spiral arms you see (requires you to have drawn a disc)",
}
_TOOL_LABELS = {
    "disk": "Galactic Disk ",
    "bulge": "Galactic Bulge ",
    "bar": "Galactic Bar ",
    "spiral": "Spiral Arm",
}


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


def _slider_value(raw: Any, slider: _Slider, zero_means_default: bool, what: str) -> float:
    """A slider's value: untouched ones hold a string, moved ones a number (spec §2.2)."""
    if raw is None:
        return slider.missing
    if zero_means_default and slider.falsy is not None and not raw:
        return slider.falsy  # the reference's float(value or default): numeric 0 → default
    if raw == "":
        return slider.missing  # no value at all: as if the entry were absent
    return _number(raw, what)


def _task_slider(
    values: list, index: int, slider: _Slider, task: str, zero_means_default: bool
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


def _component(
    name: str, drawing: Any, values: list, t: _Transform, zero_means_default: bool
) -> list[float]:
    """One disk, bulge or bar drawing → [mux, muy, roll, re, q, intensity, n, c], image frame,
    not yet sanitised (spec §3.3, §3.4, §3.7, §3.8)."""
    what = f"{name} drawing"
    if not isinstance(drawing, dict):
        raise AnnotationError(f"{what} is not an object: {drawing!r:.80}")
    x = _field(drawing, "x", what)
    y = _field(drawing, "y", what)
    angle = _field(drawing, "angle", what)
    if name == "bar":
        # A rectangle: (x, y) is the unrotated top-left corner, rotation is about the centre,
        # and its angle sign is opposite to the ellipse's (spec §3.4).
        rx = _field(drawing, "width", what)
        ry = _field(drawing, "height", what)
        x += rx / 2
        y += ry / 2
        angle = -angle
    else:
        rx = _field(drawing, "rx", what)
        ry = _field(drawing, "ry", what)
    # A negative size is the same shape as its magnitude (the centre above already used the
    # signed value, which is right for a rectangle dragged leftwards or upwards).
    rx = abs(rx)
    ry = abs(ry)

    sliders = _COMPONENT_SLIDERS[name]
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
    re = max(_SIZE_FLOOR, major * scale) / _SIZE_FACTOR
    if name == "disk":
        re *= _DISK_SIZE_CORRECTION
    mux, muy = _to_image(t, x, y)
    roll = math.radians(angle) - t.rotation
    return [mux, muy, roll, re * t.s, q, i_raw / _COMPONENT_INTENSITY_FACTOR, n, c]


_X = itemgetter("x")
_Y = itemgetter("y")


def _arm_points(points: Any, t: _Transform, what: str) -> np.ndarray:
    """An arm's ``[{x, y}, …]`` → (N, 2) float array in the image frame.

    The dictionaries are read with C-level ``map``/``itemgetter`` and transformed with one
    matrix product; only a malformed arm takes the slow path that finds the bad point.
    """
    if not isinstance(points, list):
        raise AnnotationError(f"{what}: field 'points' is not a list: {points!r:.80}")
    n = len(points)
    if n == 0:
        return np.empty((0, 2))
    try:
        xy = np.array([list(map(_X, points)), list(map(_Y, points))], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        xy = None
    if xy is None or xy.shape != (2, n) or not np.isfinite(xy).all():
        xy = _read_points_slowly(points, what)
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
    details: list, index: int, slider: _Slider, zero_means_default: bool, what: str
) -> float:
    if index >= len(details):
        return slider.missing
    entry = details[index]
    if not isinstance(entry, dict):
        raise AnnotationError(f"{what}: details[{index}] is not an object: {entry!r:.80}")
    return _slider_value(entry.get("value"), slider, zero_means_default, f"{what}: {slider.name}")


def _arms(
    values: list, t: _Transform, zero_means_default: bool
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
            _detail(details, 0, _ARM_INTENSITY, zero_means_default, what) / _ARM_INTENSITY_FACTOR
        )
        spread = _detail(details, 1, _ARM_SPREAD, zero_means_default, what)
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
    t = _transform(frame, method)
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
        params = _component(name, drawings[0], values, t, zero_means_default)  # type: ignore[arg-type]
        if sanitize:
            params = _sanitize_params(name, params)
        parts[name] = SersicComponent(*params)

    arms: tuple[SpiralArm, ...] = ()
    spiral = tasks.get("spiral")
    if spiral:
        drawn = _arms(spiral, t, zero_means_default)
        if drawn:
            falloff = max(
                _task_slider(spiral, 1, _FALLOFF, "spiral", zero_means_default), _FALLOFF_FLOOR
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
        params = [
            float(comp.mux),
            float(comp.muy),
            float(comp.roll),
            float(comp.re),
            float(comp.q),
            float(comp.intensity),
            float(comp.n),
            float(comp.c),
        ]
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


# ------------------------------------------------------------------------------- the inverse


def _slider_entry(
    value: float, slider: _Slider, zero_means_default: bool, untouched_as_strings: bool
) -> Any:
    """How a volunteer's slider at ``value`` appears in the export."""
    if untouched_as_strings and value == float(slider.untouched):
        return slider.untouched
    if zero_means_default and slider.falsy is not None and value == 0:
        return "0"  # a numeric 0 would be read as the default
    return float(value)


def _slider_object(slider: _Slider, value: Any) -> dict[str, Any]:
    return {"task": slider.name, "value": value}


def _degrees(angle: float) -> float:
    """Degrees wrapped into [−180, 180), as the drawing tools report them."""
    return (math.degrees(angle) + 180.0) % 360.0 - 180.0


def _draw_component(
    name: str,
    comp: SersicComponent,
    t: _Transform,
    scale: float,
    zero_means_default: bool,
    untouched_as_strings: bool,
) -> tuple[dict[str, Any], list[Any]]:
    """A component → (its drawing, its slider values), inverting :func:`_component`."""
    if name == "disk" and (comp.n != 1 or comp.c != 2):
        raise ValueError(f"a disk drawing cannot carry n={comp.n}, c={comp.c} (needs n=1, c=2)")
    if name == "bulge" and comp.c != 2:
        raise ValueError(f"a bulge drawing cannot carry c={comp.c} (needs c=2)")
    if not (comp.re > 0 and comp.q > 0 and scale > 0):
        raise ValueError(f"{name}: re, q and the scale slider must be positive to be drawn")
    x, y = _to_canvas(t, float(comp.mux), float(comp.muy))
    roll = float(comp.roll) + t.rotation  # the canvas-frame roll, before the correction
    re = float(comp.re) / t.s
    if name == "disk":
        re /= _DISK_SIZE_CORRECTION
    axis = re * _SIZE_FACTOR / scale  # drawn semi-axis (ellipse) or side (bar) along roll
    other = axis * float(comp.q)
    # The parser puts the major axis at angle + 90° when rx > ry and at angle otherwise;
    # drawing `axis` as rx at angle = roll − 90° gives back roll (and a q > 1 model comes back
    # folded, as sanitising would fold it). A circle has no +90°, so it is drawn at roll.
    if name == "bar":
        w, h = axis, other
        angle = -_degrees(roll - (0.0 if w == h else math.pi / 2))
        drawing: dict[str, Any] = {
            "x": x - w / 2,
            "y": y - h / 2,
            "tool": 0,
            "angle": angle,
            "frame": 0,
            "width": w,
            "height": h,
            "tool_label": _TOOL_LABELS[name],
        }
    else:
        rx, ry = axis, other
        drawing = {
            "x": x,
            "y": y,
            "rx": rx,
            "ry": ry,
            "tool": 0,
            "angle": _degrees(roll - (0.0 if rx == ry else math.pi / 2)),
            "frame": 0,
            "tool_label": _TOOL_LABELS[name],
        }
    sliders = _COMPONENT_SLIDERS[name]
    values = (scale, float(comp.intensity) * _COMPONENT_INTENSITY_FACTOR, float(comp.n), 2.0)
    if name == "bar":
        values = (*values[:3], float(comp.c))
    entries = [
        _slider_entry(v, s, zero_means_default, untouched_as_strings)
        for v, s in zip(values[: _EXPORTED_SLIDERS[name]], sliders, strict=False)
    ]
    return drawing, entries


def model_to_annotation(
    model: GalaxyModel,
    frame: CanvasFrame,
    *,
    method: Method = Method.CORRECTED,
    sliders: Mapping[str, float] | None = None,
    untouched_as_strings: bool = True,
) -> list[dict[str, Any]]:
    """Draw a model as a volunteer would have: the inverse of :func:`parse_annotation`.

    ``parse_annotation(model_to_annotation(m, frame), frame)`` gives back ``m`` (to rounding)
    for a sanitised ``m``, and ``sanitize_model(m)`` for any other drawable one. The synthetic-
    volunteer simulator uses it to write classifications in the real export's layout.

    Parameters
    ----------
    model
        An image-frame model. Drawings cannot express a disk with n ≠ 1 or c ≠ 2, a bulge
        with c ≠ 2, or arms with different falloffs (one slider per classification); those
        raise ``ValueError``.
    frame
        The subject's canvas geometry, as it will be passed to the parser.
    method
        The parser method the annotation is meant for (positions differ by 0.5 px; in
        ``reference`` a zero slider is written as the string ``"0"`` so it survives the
        falsy-zero quirk).
    sliders
        Scale-slider value per component name (``"disk"``, ``"bulge"``, ``"bar"``), 1 when
        absent. A volunteer who moved the slider to ``S`` drew the shape ``1/S`` times the size
        for the same model, so the drawing is divided by it.
    untouched_as_strings
        Write slider values equal to the slider's default as the default string, as an
        untouched slider appears in the export; ``False`` writes every value as a number.

    Returns
    -------
    list of dict
        Four task objects (``disk``, ``bulge``, ``bar``, ``spiral``) with positional slider
        entries, JSON-serialisable (``json.dumps`` gives an ``annotations`` cell).
    """
    t = _transform(frame, method)
    zero_means_default = PARSING_RULES[method].zero_means_default
    scales = dict(sliders or {})
    unknown = set(scales) - {"disk", "bulge", "bar"}
    if unknown:
        raise ValueError(f"sliders has unknown components: {sorted(unknown)}")
    out: list[dict[str, Any]] = []
    for name in ("disk", "bulge", "bar"):
        comp: SersicComponent | None = getattr(model, name)
        sliders_of = _COMPONENT_SLIDERS[name]
        if comp is None:
            drawings: list[dict[str, Any]] = []
            entries: list[Any] = [s.untouched for s in sliders_of[: _EXPORTED_SLIDERS[name]]]
        else:
            drawing, entries = _draw_component(
                name,
                comp,
                t,
                float(scales.get(name, 1.0)),
                zero_means_default,
                untouched_as_strings,
            )
            drawings = [drawing]
        value: list[dict[str, Any]] = [
            {"task": _DRAWING_TASK[name], "task_label": _TASK_LABELS[name], "value": drawings}
        ]
        value += [_slider_object(s, e) for s, e in zip(sliders_of, entries, strict=False)]
        out.append({"task": name, "task_label": None, "value": value})

    falloffs = {float(arm.falloff) for arm in model.arms}
    if len(falloffs) > 1:
        raise ValueError(f"arms of one classification share one falloff slider, not {falloffs}")
    falloff = falloffs.pop() if falloffs else 1.0
    arms = []
    for arm in model.arms:
        points = _points_to_canvas(t, np.asarray(arm.points, dtype=np.float64).reshape(-1, 2))
        details = [
            (float(arm.intensity) * _ARM_INTENSITY_FACTOR, _ARM_INTENSITY),
            (float(arm.spread) / t.s, _ARM_SPREAD),
        ]
        arms.append(
            {
                "tool": 0,
                "frame": 1,
                "points": [{"x": px, "y": py} for px, py in points.tolist()],
                "details": [
                    {"value": _slider_entry(v, s, zero_means_default, untouched_as_strings)}
                    for v, s in details
                ],
                "tool_label": _TOOL_LABELS["spiral"],
            }
        )
    out.append(
        {
            "task": "spiral",
            "task_label": None,
            "value": [
                {
                    "task": _DRAWING_TASK["spiral"],
                    "task_label": _TASK_LABELS["spiral"],
                    "value": arms,
                },
                _slider_object(
                    _FALLOFF,
                    _slider_entry(falloff, _FALLOFF, zero_means_default, untouched_as_strings),
                ),
            ],
        }
    )
    return out
