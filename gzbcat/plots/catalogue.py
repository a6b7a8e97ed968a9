"""The catalogue figure: our pitch angles and bulge fractions against Hart et al. (2017)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gzbcat.plots.data import CataloguePlotData
from gzbcat.plots.style import CATALOGUE_FIGSIZE, DPI, centred_message, require_matplotlib

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["draw_catalogue"]


def _scatter_panel(
    ax: Axes,
    x: list[float],
    y: list[float],
    xlabel: str,
    ylabel: str,
    note: str | None,
    *,
    identity: bool,
) -> None:
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    if note is not None or not x:
        message = note or "no subject has both values yet"
        centred_message(ax, message)
        return
    ax.scatter(x, y, s=14, color="#1565c0", alpha=0.8, edgecolors="none")
    if identity:
        low = min(*x, *y, 0.0)
        high = max(*x, *y) * 1.05 + 1e-9
        ax.plot([low, high], [low, high], color="0.4", lw=1, ls="--", label="1:1")
        ax.legend(fontsize=8, loc="upper left")
    if len(x) >= 3 and np.std(x) > 0 and np.std(y) > 0:
        r = float(np.corrcoef(x, y)[0, 1])
        ax.text(
            0.97,
            0.03,
            f"n = {len(x)}, r = {r:.2f}",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
        )
    else:
        ax.text(
            0.97, 0.03, f"n = {len(x)}", transform=ax.transAxes, ha="right", va="bottom", fontsize=8
        )


def draw_catalogue(data: CataloguePlotData) -> Figure:
    """Draw the catalogue figure: our pitch angles against Hart et al.'s SpArcFiRe and GZ2
    values, and the tuned aggregate's bulge fraction against stellar mass.

    Panels whose inputs are missing (the Hart table not imported, no subject tuned) say so
    instead of failing, so the figure can be drawn at any point of a run.
    """
    require_matplotlib()
    from matplotlib.figure import Figure

    figure = Figure(figsize=CATALOGUE_FIGSIZE, dpi=DPI, layout="constrained")
    axes = figure.subplots(1, 3)
    note = None
    if data.hart is None:
        note = "Hart et al. (2017) table not imported\n(gzbcat import-table … --name hart2017)"
    pairs: dict[str, tuple[list[float], list[float]]] = {
        "sparcfire": ([], []),
        "gz2": ([], []),
        "mass": ([], []),
    }
    for row in data.rows:
        hart = (data.hart or {}).get(row.dr7objid) if row.dr7objid is not None else None
        if hart is None:
            continue
        if row.pitch_angle_deg is not None:
            for key, value in (("sparcfire", hart.psi_sparcfire), ("gz2", hart.psi_gz2)):
                if value is not None:
                    pairs[key][0].append(abs(value))
                    pairs[key][1].append(row.pitch_angle_deg)
        if row.bulge_fraction is not None and hart.log_mstar is not None:
            pairs["mass"][0].append(hart.log_mstar)
            pairs["mass"][1].append(row.bulge_fraction)
    ours = "pitch angle, aggregate arms (deg)"
    _scatter_panel(
        axes[0],
        *pairs["sparcfire"],
        "SpArcFiRe ψ (Hart et al. 2017, deg)",
        ours,
        note,
        identity=True,
    )
    _scatter_panel(
        axes[1], *pairs["gz2"], "GZ2 ψ (Hart et al. 2017, deg)", ours, note, identity=True
    )
    _scatter_panel(
        axes[2],
        *pairs["mass"],
        "log10 stellar mass (M☉, Hart et al. 2017)",
        "bulge fraction, tuned aggregate",
        note,
        identity=False,
    )
    axes[0].set_title("pitch angle vs SpArcFiRe", fontsize=10)
    axes[1].set_title("pitch angle vs GZ2", fontsize=10)
    axes[2].set_title("bulge fraction vs stellar mass", fontsize=10)
    n_tuned = sum(row.bulge_fraction is not None for row in data.rows)
    n_pitch = sum(row.pitch_angle_deg is not None for row in data.rows)
    caption = f"{n_pitch} subjects with arm pitch angles, {n_tuned} with a tuned aggregate"
    if data.notes:
        caption += "\n" + "\n".join(data.notes)
    lines = caption.count("\n") + 1
    figure.text(0.5, 0.01, caption, ha="center", va="bottom", fontsize=9)
    figure.get_layout_engine().set(rect=(0.0, 0.01 + 0.04 * lines, 1.0, 0.99 - 0.04 * lines))
    return figure
