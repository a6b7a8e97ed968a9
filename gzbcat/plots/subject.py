"""A subject's four-panel figure (see :mod:`gzbcat.plots`), drawn from its value types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gzbcat.model import GalaxyModel, Method
from gzbcat.plots.data import Overlay, SubjectPanels, SubjectPlotData
from gzbcat.plots.panels import component_outline, subject_panels
from gzbcat.plots.style import (
    ARCSEC_PER_PIXEL,
    ARM_COLOURS,
    COMPONENT_COLOURS,
    DPI,
    SUBJECT_FIGSIZE,
    empty_panel,
    format_value,
    grey_map,
    outlined,
    require_matplotlib,
    residual_map,
    stretch_norm,
)
from gzbcat.rendering.render import arm_polyline

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.image import AxesImage

__all__ = ["draw_model", "draw_subject"]


def _draw_image(ax: Axes, values: np.ndarray, norm: Any, cmap: Any, gid: str) -> Any:
    shown = ax.imshow(values, origin="lower", norm=norm, cmap=cmap, interpolation="nearest")
    shown.set_gid(gid)
    ax.set_xlabel("x (px)", fontsize=8)
    ax.set_ylabel("y (px)", fontsize=8)
    ax.tick_params(labelsize=7)
    return shown


def _scale_bar(ax: Axes, shape: tuple[int, int]) -> None:
    """A 10″ bar in the lower left, for the angular scale (0.396″/px)."""
    length = 10.0 / ARCSEC_PER_PIXEL
    height, width = shape
    x0, y0 = 0.05 * width, 0.06 * height
    ax.plot([x0, x0 + length], [y0, y0], color="white", lw=2, path_effects=outlined())
    ax.text(
        x0 + length / 2,
        y0 + 0.02 * height,
        "10″",
        color="white",
        ha="center",
        va="bottom",
        fontsize=8,
        path_effects=outlined(),
    )


def _arm_colour(part: str) -> str:
    index = int(part.split(":", 1)[1]) if ":" in part else 0
    return ARM_COLOURS[index % len(ARM_COLOURS)]


def _outer_end(points: np.ndarray, centre: np.ndarray | None) -> np.ndarray:
    """The end of a poly-line farther from the centre: arm labels go where it is least
    crowded, away from the bulge and the other arms."""
    if centre is None:
        centre = points.mean(axis=0)
    first, last = points[0], points[-1]
    return last if np.hypot(*(last - centre)) >= np.hypot(*(first - centre)) else first


def _draw_overlays(
    ax: Axes, overlays: Sequence[Overlay], panel: str, centre: np.ndarray | None = None
) -> None:
    from matplotlib.lines import Line2D

    counts: dict[str, int] = {}
    for item in overlays:
        if item.panel != panel:
            continue
        x, y = item.vertices[:, 0], item.vertices[:, 1]
        is_arm = item.part.startswith("arm")
        colour = (
            COMPONENT_COLOURS["arm"]
            if item.part == "arm"
            else (_arm_colour(item.part) if is_arm else COMPONENT_COLOURS[item.part])
        )
        if item.role == "volunteer":
            ax.plot(x, y, color=colour, lw=0.7, alpha=0.35)
            counts[item.part] = counts.get(item.part, 0) + 1
        elif item.role == "member":
            ax.plot(x, y, color=colour, lw=0.8, alpha=0.45)
        else:
            ax.plot(x, y, color=colour, lw=2.2, path_effects=outlined())
            if item.label is not None and len(item.vertices):
                end = _outer_end(item.vertices, centre)
                ax.annotate(
                    item.label,
                    xy=(end[0], end[1]),
                    xytext=(4, 4),
                    textcoords="offset points",
                    color=colour,
                    fontsize=9,
                    path_effects=outlined(2.0),
                    annotation_clip=True,
                )
    if panel == "volunteers" and counts:
        handles = [
            Line2D([], [], color=COMPONENT_COLOURS[name], lw=1.5, label=f"{name} ({counts[name]})")
            for name in ("disk", "bulge", "bar", "arm")
            if name in counts
        ]
        legend = ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.6)
        legend.set_gid("volunteer-legend")


def draw_subject(data: SubjectPlotData, panels: SubjectPanels | None = None) -> Figure:
    """Draw a subject's four-panel figure (see :mod:`gzbcat.plots`) and return it.

    Parameters
    ----------
    data
        The subject's values (:func:`~gzbcat.catalogue.figures.load_subject_plot_data`, or
        built by hand).
    panels
        Its arrays, if already computed (:func:`subject_panels`); computed otherwise.

    Returns
    -------
    matplotlib.figure.Figure
        :data:`SUBJECT_FIGSIZE` at :data:`DPI`; the image artists carry the gids ``data``,
        ``aggregate``, ``model`` and ``residual``, and hold the arrays of ``panels``, unstretched
        (the stretch is in the colour norm), so a test can compare them with the renderer.
    """
    require_matplotlib()
    from matplotlib.figure import Figure

    panels = subject_panels(data) if panels is None else panels
    figure = Figure(figsize=SUBJECT_FIGSIZE, dpi=DPI, layout="constrained")
    axes = figure.subplots(1, 4)
    titles = {
        "volunteers": f"{len(data.volunteers)} volunteer models",
        "aggregate": "aggregate",
        "model": "tuned model ⊛ PSF",
        "residual": "(data − model) / σ",
    }
    if data.tuned is not None and data.tuned_source not in (None, "aggregate"):
        titles["model"] = f"tuned {str(data.tuned_source).replace('_', ' ')} ⊛ PSF"
    if data.aggregate is not None:
        n_arms = len(data.aggregate.arms)
        parts = ", ".join(data.aggregate.components())
        titles["aggregate"] = f"aggregate: {parts or 'no components'}, {n_arms} arms"

    norm = stretch_norm(panels.limits) if panels.limits is not None else None
    disk = data.aggregate.disk if data.aggregate is not None else None
    centre = np.array([disk.mux, disk.muy]) if disk is not None else None
    for ax, key in zip(axes[:2], ("volunteers", "aggregate"), strict=True):
        if panels.image is None:
            empty_panel(ax, titles[key], panels.missing[key])
            continue
        _draw_image(ax, panels.image, norm, grey_map(), "data" if key == "volunteers" else key)
        _draw_overlays(ax, panels.overlays, key, centre)
        ax.set_xlim(-0.5, panels.image.shape[1] - 0.5)
        ax.set_ylim(-0.5, panels.image.shape[0] - 0.5)
        ax.set_title(titles[key], fontsize=10)
        if key in panels.missing:
            ax.text(
                0.5,
                0.5,
                panels.missing[key],
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize=9,
                color="white",
                path_effects=outlined(),
            )
    if panels.image is not None:
        _scale_bar(axes[0], panels.image.shape)

    if panels.model is None:
        empty_panel(axes[2], titles["model"], panels.missing["model"])
    else:
        _draw_image(axes[2], panels.model, norm, grey_map(), "model")
        axes[2].set_title(titles["model"], fontsize=10)

    chi2_nu = data.fit.chi2_nu if data.fit is not None else None
    residual_title = f"{titles['residual']},  $\\chi^2_\\nu$ = {format_value(chi2_nu, '.3f')}"
    if panels.residual is None:
        empty_panel(axes[3], titles["residual"], panels.missing["residual"])
    else:
        from matplotlib.colors import CenteredNorm

        values = np.abs(panels.residual.compressed())
        half = float(np.percentile(values, 99.5)) if values.size else 1.0
        half = max(half, 1.0)
        shown = _draw_image(
            axes[3], panels.residual, CenteredNorm(0.0, half), residual_map(), "residual"
        )
        axes[3].set_title(residual_title, fontsize=10)
        colourbar = figure.colorbar(shown, ax=axes[3], shrink=0.85)
        colourbar.ax.tick_params(labelsize=7)
        colourbar.set_label("σ", fontsize=8)

    lines = panels.caption.count("\n") + 1
    figure.text(0.5, 0.01, panels.caption, ha="center", va="bottom", fontsize=9)
    figure.get_layout_engine().set(rect=(0.0, 0.01 + 0.045 * lines, 1.0, 0.99 - 0.045 * lines))
    return figure


def draw_model(
    ax: Axes,
    rendered: np.ndarray,
    model: GalaxyModel,
    *,
    limits: tuple[float, float],
    title: str | None = None,
    method: Method = Method.CORRECTED,
    outlines: bool = True,
) -> AxesImage:
    """Draw one rendered model on ``ax`` with its outlines, on the data's display stretch.

    Parameters
    ----------
    ax
        The axes to draw on.
    rendered
        (H, W) image of ``model`` (normally :func:`render_model` with the subject's PSF), in
        the units of the subject image; the artist (gid ``model``) holds it unstretched.
    model
        The model: its components are outlined as in panel 2 and its arms drawn along the
        poly-lines the renderer uses.
    limits
        Data values shown as black and white (:func:`~gzbcat.plots.panels.display_limits` of
        the subject image), so the model looks like the data it was fitted to.
    title
        Shown above the axes.
    method
        The method the arms are placed with (as the model was rendered).
    outlines
        False: the image alone.
    """
    require_matplotlib()
    shown = _draw_image(ax, rendered, stretch_norm(limits), grey_map(), "model")
    height, width = rendered.shape
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(-0.5, height - 0.5)
    if title is not None:
        ax.set_title(title, fontsize=10)
    if not outlines:
        return shown
    for name, comp in model.components().items():
        vertices = component_outline(name, comp)
        ax.plot(
            vertices[:, 0],
            vertices[:, 1],
            color=COMPONENT_COLOURS[name],
            lw=1.8,
            path_effects=outlined(),
            label=name,
        )
    for index, arm in enumerate(model.arms):
        points = arm_polyline(arm, model.disk, method=method)
        if len(points):
            colour = ARM_COLOURS[index % len(ARM_COLOURS)]
            ax.plot(
                points[:, 0],
                points[:, 1],
                color=colour,
                lw=1.8,
                path_effects=outlined(),
                label=f"arm {index}",
            )
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=7, framealpha=0.6)
    return shown
