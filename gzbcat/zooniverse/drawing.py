"""A model drawn as a volunteer would have drawn it: the inverse of the annotation parser.

:func:`model_to_annotation` writes the ``annotations`` JSON of a classification whose parse
(:func:`gzbcat.zooniverse.annotations.parse_annotation`) gives the model back, in the real
export's layout; the synthetic-volunteer simulator writes its classifications with it, and the
round-trip tests check the parser against it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from gzbcat.model import GalaxyModel, Method, SersicComponent
from gzbcat.zooniverse import canvas

__all__ = ["model_to_annotation"]


def _slider_entry(
    value: float, slider: canvas.Slider, zero_means_default: bool, untouched_as_strings: bool
) -> Any:
    """How a volunteer's slider at ``value`` appears in the export."""
    if untouched_as_strings and value == float(slider.untouched):
        return slider.untouched
    if zero_means_default and slider.falsy is not None and value == 0:
        return "0"  # a numeric 0 would be read as the default
    return float(value)


def _slider_object(slider: canvas.Slider, value: Any) -> dict[str, Any]:
    return {"task": slider.name, "value": value}


def _degrees(angle: float) -> float:
    """Degrees wrapped into [−180, 180), as the drawing tools report them."""
    return (math.degrees(angle) + 180.0) % 360.0 - 180.0


def _draw_component(
    name: str,
    comp: SersicComponent,
    t: canvas.CanvasTransform,
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
    x, y = canvas.to_canvas(t, float(comp.mux), float(comp.muy))
    roll = float(comp.roll) + t.rotation  # the canvas-frame roll, before the correction
    re = float(comp.re) / t.s
    if name == "disk":
        re /= canvas.DISK_SIZE_CORRECTION
    axis = re * canvas.SIZE_FACTOR / scale  # drawn semi-axis (ellipse) or side (bar) along roll
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
            "tool_label": canvas.TOOL_LABELS[name],
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
            "tool_label": canvas.TOOL_LABELS[name],
        }
    sliders = canvas.COMPONENT_SLIDERS[name]
    values = (scale, float(comp.intensity) * canvas.COMPONENT_INTENSITY_FACTOR, float(comp.n), 2.0)
    if name == "bar":
        values = (*values[:3], float(comp.c))
    entries = [
        _slider_entry(v, s, zero_means_default, untouched_as_strings)
        for v, s in zip(values[: canvas.EXPORTED_SLIDERS[name]], sliders, strict=False)
    ]
    return drawing, entries


def model_to_annotation(
    model: GalaxyModel,
    frame: canvas.CanvasFrame,
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
    t = canvas.canvas_transform(frame, method)
    zero_means_default = canvas.PARSING_RULES[method].zero_means_default
    scales = dict(sliders or {})
    unknown = set(scales) - {"disk", "bulge", "bar"}
    if unknown:
        raise ValueError(f"sliders has unknown components: {sorted(unknown)}")
    out: list[dict[str, Any]] = []
    for name in ("disk", "bulge", "bar"):
        comp: SersicComponent | None = getattr(model, name)
        sliders_of = canvas.COMPONENT_SLIDERS[name]
        if comp is None:
            drawings: list[dict[str, Any]] = []
            entries: list[Any] = [s.untouched for s in sliders_of[: canvas.EXPORTED_SLIDERS[name]]]
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
            {
                "task": canvas.DRAWING_TASKS[name],
                "task_label": canvas.TASK_LABELS[name],
                "value": drawings,
            }
        ]
        value += [_slider_object(s, e) for s, e in zip(sliders_of, entries, strict=False)]
        out.append({"task": name, "task_label": None, "value": value})

    falloffs = {float(arm.falloff) for arm in model.arms}
    if len(falloffs) > 1:
        raise ValueError(f"arms of one classification share one falloff slider, not {falloffs}")
    falloff = falloffs.pop() if falloffs else 1.0
    arms = []
    for arm in model.arms:
        points = canvas.points_to_canvas(t, np.asarray(arm.points, dtype=np.float64).reshape(-1, 2))
        details = [
            (float(arm.intensity) * canvas.ARM_INTENSITY_FACTOR, canvas.ARM_INTENSITY_SLIDER),
            (float(arm.spread) / t.s, canvas.ARM_SPREAD_SLIDER),
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
                "tool_label": canvas.TOOL_LABELS["spiral"],
            }
        )
    out.append(
        {
            "task": "spiral",
            "task_label": None,
            "value": [
                {
                    "task": canvas.DRAWING_TASKS["spiral"],
                    "task_label": canvas.TASK_LABELS["spiral"],
                    "value": arms,
                },
                _slider_object(
                    canvas.FALLOFF_SLIDER,
                    _slider_entry(
                        falloff, canvas.FALLOFF_SLIDER, zero_means_default, untouched_as_strings
                    ),
                ),
            ],
        }
    )
    return out
