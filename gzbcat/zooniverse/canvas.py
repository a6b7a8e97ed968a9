"""The drawing canvas and the browser's conventions: how Galaxy Builder's canvas maps to the cutout.

Volunteers drew on a 512-pixel-wide, y-down canvas showing the cutout; the browser rendered
their drawings with conventions of its own (an outline at 3 Re, the disk size doubled, the
galaxy shown at 0.8 of its brightness: spec §3.3–§3.5, Appendix A). This module holds those
constants, the sliders of each task (their export ids and defaults, spec §2.2), and the
affine canvas → image map of spec §3.7–§3.8 (:func:`canvas_transform`). The parser
(:mod:`gzbcat.zooniverse.annotations`) and its inverse (:mod:`gzbcat.zooniverse.drawing`) both
use them, and :data:`PARSING_RULES` says what the two methods do differently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from gzbcat.model import Method, MethodTable

__all__ = [
    "FAR_CANVAS_WIDTHS",
    "PARSING_RULES",
    "SLIDER_LIMIT",
    "CanvasFrame",
    "CanvasTransform",
    "ParsingRules",
    "Slider",
    "canvas_transform",
    "points_to_canvas",
    "to_canvas",
    "to_image",
]


@dataclass(frozen=True)
class ParsingRules:
    """The two published quirks a parsing method keeps or fixes (see
    :mod:`gzbcat.zooniverse.annotations`).

    Attributes
    ----------
    pixel_centre_offset
        Pixels subtracted after scaling canvas coordinates: 0.5 maps canvas pixel *edges* to
        cutout pixel *centres*; 0 keeps the reference's edge-based positions.
    zero_means_default
        A slider moved to numeric 0 reads as the slider's default (the reference's
        ``float(value or default)``).
    degenerate_shapes_allowed
        A negative size is read as its magnitude and a zero-width shape is floored (the
        reference); otherwise both are refused as drawings that cannot be a galaxy.
    """

    pixel_centre_offset: float
    zero_means_default: bool
    degenerate_shapes_allowed: bool


PARSING_RULES: MethodTable[ParsingRules] = MethodTable.from_columns(
    ParsingRules,
    # switch = (corrected, reference)
    pixel_centre_offset=(0.5, 0.0),
    zero_means_default=(False, True),
    degenerate_shapes_allowed=(False, True),
)

FAR_CANVAS_WIDTHS = 10.0
"""A position or size beyond this many canvas widths cannot be a drawing of the galaxy shown:
such a drawing is refused whatever the method (it could only overflow the arithmetic)."""
SLIDER_LIMIT = 100.0
"""No Galaxy Builder slider goes beyond a few units (spec §2.2); a value beyond this is refused."""

# Browser-renderer constants (spec §3.3, §3.5, Appendix A).
SIZE_FACTOR = 3.0  # the drawn outline sits at 3 Re
DISK_SIZE_CORRECTION = 2.0  # empirical ×2 on the disk Re
COMPONENT_INTENSITY_FACTOR = 1.6  # 2 (half amplitude at Re) × 0.8 (galaxy shown at 0.8)
ARM_INTENSITY_FACTOR = 0.8
SIZE_FLOOR = 1e-5  # canvas px, applied to major·scale before the /3
FALLOFF_FLOOR = 1e-5


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


class CanvasTransform(NamedTuple):
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
    far: float  # canvas px: |coordinate| or size beyond this is refused (FAR_CANVAS_WIDTHS)


def _cos_sin(angle: float) -> tuple[float, float]:
    """cos and sin, exact for multiples of π/2 (the usual corrections), so that a rotated
    position carries no 1e-16 noise into exact comparisons."""
    quarter = angle / (math.pi / 2)
    k = round(quarter)
    if abs(quarter - k) < 1e-12:
        return ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))[k % 4]
    return math.cos(angle), math.sin(angle)


@lru_cache(maxsize=4096)
def canvas_transform(frame: CanvasFrame, method: Method) -> CanvasTransform:
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
    far = FAR_CANVAS_WIDTHS * frame.image_width / s
    return CanvasTransform(s, r, m00, m01, m10, m11, b0, b1, matrix_t, shift, far)


def to_image(t: CanvasTransform, x: float, y: float) -> tuple[float, float]:
    """Canvas point (y down) → image point: flip, scale, half-pixel shift, rotate by −r."""
    return t.m00 * x + t.m01 * y + t.b0, t.m10 * x + t.m11 * y + t.b1


def to_canvas(t: CanvasTransform, x: float, y: float) -> tuple[float, float]:
    """The inverse of :func:`to_image` (``M⁻¹ = diag(1/s, −1/s)·R(r)``)."""
    dx, dy = x - t.b0, y - t.b1
    s2 = t.s * t.s
    return (t.m00 * dx + t.m10 * dy) / s2, (t.m01 * dx + t.m11 * dy) / s2


def points_to_canvas(t: CanvasTransform, points: np.ndarray) -> np.ndarray:
    """:func:`to_canvas` on an (N, 2) array (``M⁻¹ = Mᵀ/s²``, M being s times a rotation
    and a reflection)."""
    return (points - t.shift) @ t.matrix_t.T / (t.s * t.s)


# ------------------------------------------------------------------------------- sliders


class Slider(NamedTuple):
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
SCALE_SLIDER = Slider("scaleSlider", 1.0, 1.0, "1")
N_SLIDER = Slider("n", 1.0, None, "1")
C_SLIDER = Slider("c", 2.0, None, "2")
COMPONENT_SLIDERS: dict[str, tuple[Slider, ...]] = {
    "disk": (SCALE_SLIDER, Slider("T13", 0.2, 1.0, "0.2"), N_SLIDER, C_SLIDER),
    "bulge": (
        SCALE_SLIDER,
        Slider("intensitySlider", 0.2, 1.0, "0.5"),
        Slider("sersicSlider", 1.0, None, "1"),
        C_SLIDER,
    ),
    "bar": (
        SCALE_SLIDER,
        Slider("T16", 0.2, 1.0, "0.2"),
        Slider("T15", 1.0, None, "0.5"),
        Slider("shapeSlider", 2.0, None, "2"),
    ),
}
# How many slider entries the real export carries per component (model_to_annotation).
EXPORTED_SLIDERS = {"disk": 2, "bulge": 3, "bar": 4}
FALLOFF_SLIDER = Slider("falloffSlider", 1.0, 1.0, "1")
# An arm's intensity has no `or` fallback in the reference (float(details[0]) / 0.8); when
# the entry is absent the untouched default is used. Its spread falls back to 0.5 (`or 0.5`).
ARM_INTENSITY_SLIDER = Slider("details[0] (intensity)", 0.75, None, "0.75")
ARM_SPREAD_SLIDER = Slider("details[1] (spread)", 0.5, 0.5, "1")

DRAWING_TASKS = {"disk": "drawDisk", "bulge": "drawBulge", "bar": "drawBar", "spiral": "drawSpiral"}
TASK_LABELS = {
    "disk": "Draw an ellipse around the outer edge of the galaxy",
    "bulge": "If the galaxy has a bulge, draw it!",
    "bar": "Draw on a galaxy bar if you see one",
    "spiral": "Draw any spiral arms you see (requires you to have drawn a disc)",
}
TOOL_LABELS = {
    "disk": "Galactic Disk ",
    "bulge": "Galactic Bulge ",
    "bar": "Galactic Bar ",
    "spiral": "Spiral Arm",
}
