"""The look shared by every figure: sizes, colours, the display stretch, and the small
matplotlib helpers (imported inside the functions: matplotlib is an optional extra)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from gzbcat.plots.data import INSTALL_HINT

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes

__all__ = [
    "ARCSEC_PER_PIXEL",
    "ARM_COLOURS",
    "ASINH_A",
    "CATALOGUE_FIGSIZE",
    "COMPONENT_COLOURS",
    "DPI",
    "MASK_COLOUR",
    "SUBJECT_FIGSIZE",
    "asinh_stretch",
    "centred_message",
    "empty_panel",
    "format_value",
    "grey_map",
    "outlined",
    "require_matplotlib",
    "residual_map",
    "stretch_norm",
]

ASINH_A = 0.6
"""Softening of the display stretch ``asinh(x/a)/asinh(a)`` (spec §7.7), in fit units."""

ARCSEC_PER_PIXEL = 0.396
"""SDSS pixel scale (spec §7.7): sets the length of the scale bar."""

SUBJECT_FIGSIZE: tuple[float, float] = (16.0, 4.8)
"""Size of a subject figure, inches; with :data:`DPI` a PNG is 1600 × 480 pixels."""

CATALOGUE_FIGSIZE: tuple[float, float] = (15.0, 5.0)
"""Size of the catalogue figure, inches (1500 × 500 pixels as PNG)."""

DPI = 100
"""Resolution of saved raster figures; fixed so that file sizes are predictable."""

COMPONENT_COLOURS: dict[str, str] = {
    "disk": "#4fc3f7",
    "bulge": "#ff5252",
    "bar": "#69f0ae",
    "arm": "#ffd740",
}
"""One colour per component, bright enough to read on a grey image."""

ARM_COLOURS: tuple[str, ...] = ("#ffd740", "#e040fb", "#ff9100", "#eeff41", "#18ffff", "#f48fb1")
"""Aggregate arms cycle through these, so that an arm and its members share a colour."""

MASK_COLOUR = "#6d4c41"
"""Masked pixels (True = excluded): a brown that neither the grey stretch, the residual map
nor any outline colour uses."""


def asinh_stretch(values: np.ndarray, a: float = ASINH_A) -> np.ndarray:
    """The display stretch of spec §7.7, ``asinh(x/a) / asinh(a)``: linear near 0, log-like
    in the bright centre, so that faint arms and the bulge are visible on one image."""
    return np.arcsinh(np.asanyarray(values) / a) / np.arcsinh(a)  # keeps a mask


def format_value(value: float | None, spec: str = ".3f") -> str:
    """A number for a caption or a title; ``n/a`` where it is unknown or not finite."""
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def require_matplotlib() -> Any:
    """Import matplotlib, or raise ImportError saying how to install it."""
    try:
        import matplotlib
    except ImportError as error:  # pragma: no cover - the test environment has it
        raise ImportError(INSTALL_HINT) from error
    return matplotlib


def stretch_norm(limits: tuple[float, float]) -> Any:
    """A colour norm applying :func:`asinh_stretch` between ``limits`` (in data units), so
    that the artists hold the unstretched arrays and one norm serves panels 1–3."""
    from matplotlib.colors import FuncNorm

    def forward(values: np.ndarray) -> np.ndarray:
        return asinh_stretch(values)

    def inverse(values: np.ndarray) -> np.ndarray:
        return np.sinh(np.asanyarray(values) * np.arcsinh(ASINH_A)) * ASINH_A

    return FuncNorm((forward, inverse), vmin=limits[0], vmax=limits[1])


def grey_map() -> Any:
    import matplotlib

    return matplotlib.colormaps["gray"].with_extremes(bad=MASK_COLOUR)


def residual_map() -> Any:
    import matplotlib

    return matplotlib.colormaps["RdBu_r"].with_extremes(bad=MASK_COLOUR)


def centred_message(ax: Axes, message: str) -> None:
    """Grey text in the middle of a panel that has nothing else to show."""
    ax.text(
        0.5,
        0.5,
        message,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=9,
        wrap=True,
        color="0.3",
    )


def empty_panel(ax: Axes, title: str, message: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    centred_message(ax, message)


def outlined(width: float = 3.0) -> list[Any]:
    """A dark halo under bright lines and text so they read on white and on black."""
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=width, foreground="black", alpha=0.6)]
