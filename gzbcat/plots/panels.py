"""A subject figure's arrays and lines (numpy and the renderer only; no matplotlib), so a
test can check that the panels never drift from the model."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from gzbcat.geometry import shape_vertices
from gzbcat.model import Method, SersicComponent, SpiralArm, SubjectImage
from gzbcat.plots.data import FitSummary, Overlay, SubjectPanels, SubjectPlotData
from gzbcat.plots.style import format_value
from gzbcat.rendering import render_model

__all__ = ["component_outline", "display_limits", "subject_panels"]


def _component_params(comp: SersicComponent) -> tuple[float, float, float, float, float]:
    return (comp.mux, comp.muy, comp.re, comp.q, comp.roll)


def component_outline(name: str, comp: SersicComponent) -> np.ndarray:
    """The §5.1 outline of a component, (N, 2) image-frame vertices: a box for the bar, an
    ellipse otherwise."""
    kind = "box" if name == "bar" else "ellipse"
    return shape_vertices(_component_params(comp), kind)[0]


def _closest_arm(arms: Sequence[SpiralArm], target: np.ndarray) -> int | None:
    """Index of the arm nearest to ``target`` (mean distance from its points to the target's).

    ``cluster_members`` records which volunteer *models* went into an aggregate arm, not which
    of their arms; the nearest one is the arm that was clustered, for any sensible clustering.
    """
    best, best_distance = None, math.inf
    for index, arm in enumerate(arms):
        if len(arm.points) == 0 or len(target) == 0:
            continue
        d = np.linalg.norm(arm.points[:, None, :] - target[None, :, :], axis=-1)
        distance = float(d.min(axis=1).mean())
        if distance < best_distance:
            best, best_distance = index, distance
    return best


def _overlays(data: SubjectPlotData) -> list[Overlay]:
    """Every outline and poly-line of panels 1 and 2, in drawing order (faint first)."""
    out: list[Overlay] = []
    for model_id, model in data.volunteers.items():
        for name, comp in model.components().items():
            out.append(
                Overlay("volunteers", name, "volunteer", component_outline(name, comp), model_id)
            )
        for arm in model.arms:
            out.append(Overlay("volunteers", "arm", "volunteer", arm.points, model_id))
    if data.aggregate is None:
        return out
    # Panel 2: each aggregate part's members, then the part itself.
    for name, comp in data.aggregate.components().items():
        for model_id in data.members.get(name, ()):
            member = data.volunteers.get(model_id)
            member_comp = getattr(member, name, None) if member is not None else None
            if member_comp is not None:
                outline = component_outline(name, member_comp)
                out.append(Overlay("aggregate", name, "member", outline, model_id))
        out.append(
            Overlay(
                "aggregate", name, "aggregate", component_outline(name, comp), data.aggregate_id
            )
        )
    for index, arm in enumerate(data.aggregate.arms):
        part = f"arm:{index}"
        for model_id in data.members.get(part, ()):
            member = data.volunteers.get(model_id)
            if member is None:
                continue
            nearest = _closest_arm(member.arms, arm.points)
            if nearest is not None:
                points = member.arms[nearest].points
                out.append(Overlay("aggregate", part, "member", points, model_id))
        label = None
        if arm.fit is not None:
            label = f"{arm.fit.pitch_angle_deg:.1f}°"
            if arm.fit.pitch_angle_err_deg is not None:
                label = f"{arm.fit.pitch_angle_deg:.1f}±{arm.fit.pitch_angle_err_deg:.1f}°"
        out.append(Overlay("aggregate", part, "aggregate", arm.points, data.aggregate_id, label))
    return out


def _caption(data: SubjectPlotData, missing: Mapping[str, str]) -> str:
    fit = data.fit or FitSummary()
    parts = [
        f"subject {data.subject_id}",
        f"dr7objid {data.dr7objid if data.dr7objid is not None else 'n/a'}",
        f"bulge fraction {format_value(fit.bulge_fraction)}",
        f"bar fraction {format_value(fit.bar_fraction)}",
        f"method {data.method or 'n/a'}",
    ]
    if data.tuned is not None and data.tuned_source not in (None, "aggregate"):
        parts.append(f"tuned from the {str(data.tuned_source).replace('_', ' ')} model")
    caption = "   ·   ".join(parts)
    if missing:
        caption += "\nmissing: " + "; ".join(dict.fromkeys(missing.values()))
    return caption


def display_limits(image: SubjectImage) -> tuple[float, float]:
    """The data values shown as black and white: the 0.5 and 99.8 percentiles of the finite
    unmasked pixels, so that a few hot pixels do not wash out the galaxy."""
    values = np.asarray(image.image, dtype=np.float64)[~np.asarray(image.mask, dtype=bool)]
    values = values[np.isfinite(values)]
    if values.size:
        low, high = (float(v) for v in np.percentile(values, [0.5, 99.8]))
    else:
        low, high = 0.0, 1.0
    if not high > low:
        high = low + 1.0
    return low, high


def subject_panels(data: SubjectPlotData) -> SubjectPanels:
    """The arrays and lines of a subject figure: pure numpy and the renderer, no drawing.

    The model panel is ``render_model(tuned, image shape, psf, method=method)`` exactly, and
    the residual is ``(image − model) / σ``, masked where the pixel is excluded or σ is not
    positive — what the fit itself compared.
    """
    missing: dict[str, str] = {}
    image = data.image
    if image is None:
        text = "no image: run gzbcat ingest fitting-metadata"
        missing = dict.fromkeys(("volunteers", "aggregate", "model", "residual"), text)
        return SubjectPanels(None, None, None, None, (), missing, _caption(data, missing))

    excluded = np.asarray(image.mask, dtype=bool)
    shown = np.ma.masked_array(np.asarray(image.image, dtype=np.float64), mask=excluded)
    low, high = display_limits(image)

    if not data.volunteers:
        missing["volunteers"] = "no volunteer models: run gzbcat ingest classifications"
    if data.aggregate is None:
        missing["aggregate"] = "no aggregate model: run gzbcat aggregate"

    model = residual = None
    if data.tuned is None:
        text = "no tuned model: run gzbcat tune"
        missing["model"] = missing["residual"] = text
    else:
        model = render_model(data.tuned, image.image.shape, image.psf, method=_method(data))
        if image.sigma is None:
            missing["residual"] = "no σ image: run gzbcat ingest fitting-metadata"
        else:
            sigma = np.asarray(image.sigma, dtype=np.float64)
            valid = ~excluded & np.isfinite(sigma) & (sigma > 0)
            ratio = np.divide(image.image - model, sigma, out=np.zeros_like(model), where=valid)
            residual = np.ma.masked_array(ratio, mask=~valid)
    return SubjectPanels(
        image=shown,
        model=model,
        residual=residual,
        limits=(low, high),
        overlays=tuple(_overlays(data)),
        missing=missing,
        caption=_caption(data, missing),
    )


def _method(data: SubjectPlotData) -> Method:
    """The rendering method of the shown model (unknown → the default, ``corrected``)."""
    try:
        return Method(data.method)
    except ValueError:
        return Method.CORRECTED
