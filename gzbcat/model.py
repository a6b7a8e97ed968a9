"""Value types for galaxy models and subject images, shared by every part of gzbcat.

Every model — a volunteer's drawing, an aggregate, a best individual, a tuned fit — is a
:class:`GalaxyModel` in the *image frame* (DESIGN §6): ``x`` is the column and ``y`` the row of
the cutout, (0, 0) is the centre of the first pixel, ``roll`` is in radians in [0, π) with the
major axis along ``(-sin roll, cos roll)``, sizes are image pixels, and ``q = minor / major``.
Intensities are in the units of the fit target (the cutout divided by the subject's
``multiplier``).

These types are plain data: no database, no I/O. Conversion to and from table rows lives in
``gzbcat.db`` and ``gzbcat.stages``; conversion to and from JSON is here.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "ARM_BOUNDS",
    "COMPONENT_BOUNDS",
    "COMPONENT_NAMES",
    "COMPONENT_PARAMETERS",
    "MAX_ARM_POINTS",
    "GalaxyModel",
    "LogSpiralFit",
    "Method",
    "MethodTable",
    "SersicComponent",
    "SpiralArm",
    "SubjectImage",
    "wrap_roll",
]


class Method(enum.StrEnum):
    """Which science method a result was, or is to be, produced with (spec §13).

    ``CORRECTED`` is the published method with the bugs of spec §12.1 fixed; ``REFERENCE``
    reproduces the published code's quirks for one-to-one comparison with its catalogue. The
    value is parsed once where it enters (the command line, a stored row) and travels typed;
    each part of the pipeline keeps what differs between the two in one table of its own
    (``PARSING_RULES``, ``AGGREGATION_RULES``, ``RENDERING_RULES``, ``FITTING_RULES``).
    """

    CORRECTED = "corrected"
    REFERENCE = "reference"


_Rules = TypeVar("_Rules")


class MethodTable(dict[Method, _Rules]):
    """What one part of the pipeline does differently under each :class:`Method`.

    A plain mapping from method to that part's switches; looking up anything that is not a
    method raises ``ValueError`` naming the choices, so the table is also where a mistyped
    method is caught.
    """

    @classmethod
    def from_columns(
        cls, rules: Callable[..., _Rules], **switches: tuple[Any, Any]
    ) -> MethodTable[_Rules]:
        """A table written one switch per line: ``name=(corrected value, reference value)``."""
        return cls(
            {
                method: rules(**{name: values[column] for name, values in switches.items()})
                for column, method in enumerate((Method.CORRECTED, Method.REFERENCE))
            }
        )

    def __missing__(self, key: object) -> _Rules:
        choices = ", ".join(m.value for m in Method)
        raise ValueError(f"unknown method {key!r}; expected one of: {choices}")


COMPONENT_NAMES: tuple[str, ...] = ("disk", "bulge", "bar")
"""The Sérsic components a model may have, in rendering order."""

COMPONENT_PARAMETERS: tuple[str, ...] = ("mux", "muy", "roll", "re", "q", "intensity", "n", "c")
"""Parameters of a Sérsic component; each may carry a 1σ error of the same name."""


_INF = math.inf

COMPONENT_BOUNDS: Mapping[str, Mapping[str, tuple[float, float]]] = MappingProxyType(
    {
        # spec §4.1 and §8.4; a parameter that is not listed (disk c, every mux/muy/roll) is free.
        "disk": MappingProxyType(
            {"intensity": (0.0, _INF), "q": (0.25, 1.2), "re": (0.01, _INF), "n": (1.0, 1.0)}
        ),
        "bulge": MappingProxyType(
            {
                "intensity": (0.0, _INF),
                "re": (0.0, _INF),
                "n": (0.5, 5.0),
                "c": (2.0, 2.0),
                "q": (0.6, 1.2),
            }
        ),
        "bar": MappingProxyType(
            {
                "intensity": (0.0, _INF),
                "re": (0.0, _INF),
                "c": (1.0, 6.0),
                "n": (0.3, 5.0),
                "q": (0.05, 0.5),
            }
        ),
    }
)
"""Bounds ``(low, high)`` per component and parameter, image pixels: what sanitising clips
to (spec §4.1), what the aggregate shape is optimised within (§5.4) and what the fit may reach
(§8.4)."""

ARM_BOUNDS: Mapping[str, tuple[float, float]] = MappingProxyType(
    {"intensity": (0.0, _INF), "spread": (0.5, 15.0), "falloff": (0.001, _INF)}
)
"""Bounds of a spiral arm's brightness parameters (spec §4.1, §8.4); spread in image px."""

MAX_ARM_POINTS = 1000
"""More points than any drawn arm has (spec §2.2 saw 1–181): parsing refuses a longer arm and
aggregation leaves out any stored before it did, whose resampling would not fit in memory."""


def wrap_roll(roll: float) -> float:
    """A position angle reduced into [0, π), radians: a Sérsic component is symmetric under a
    half turn. (Python's ``%`` alone can round a tiny negative angle up to π itself.)"""
    wrapped = roll % math.pi
    return 0.0 if wrapped >= math.pi else wrapped


def _finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN or infinity: store those as null."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class SersicComponent:
    """A boxy Sérsic component (disk, bulge or bar) in the image frame.

    Attributes
    ----------
    mux, muy
        Centre: column and row coordinate, image pixels.
    roll
        Position angle of the major axis, radians in [0, π), counter-clockwise from the +y axis.
    re
        Effective (half-light) radius along the major axis, image pixels.
    q
        Axis ratio minor / major, in (0, 1] after sanitising.
    intensity
        Surface brightness at ``re``, in fit-target units.
    n
        Sérsic index.
    c
        Boxiness exponent of the generalised ellipse (2 = ellipse, > 2 boxy).
    errors
        1σ uncertainty per parameter name (``COMPONENT_PARAMETERS``); a missing name means
        unknown. Infinite values mean "unconstrained" (spec §5.5).
    error_flags
        Why a parameter has no error, per parameter name: ``fixed`` (not fitted),
        ``at_bound`` (the fit left it on a bound), ``undetermined`` (the fit's curvature
        does not constrain it). Empty where nobody said.
    scatter
        Spread of the volunteers' values per parameter name (aggregate components: the
        sample std of the cluster members, spec §5.5; the tuning priors' widths, spec §8.3).
        Not an error of this component's parameters: ``errors`` is.
    """

    mux: float
    muy: float
    roll: float
    re: float
    q: float
    intensity: float
    n: float = 1.0
    c: float = 2.0
    errors: Mapping[str, float] = field(default_factory=dict, compare=False)
    error_flags: Mapping[str, str] = field(default_factory=dict, compare=False)
    scatter: Mapping[str, float] = field(default_factory=dict, compare=False)

    def parameters(self) -> dict[str, float]:
        """The eight shape and brightness parameters as plain floats."""
        return {name: float(getattr(self, name)) for name in COMPONENT_PARAMETERS}

    def with_parameters(self, **changes: float) -> SersicComponent:
        """A copy with some parameters replaced (errors kept)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = self.parameters()
        if self.errors:
            out["errors"] = {k: _finite_or_none(v) for k, v in self.errors.items()}
        if self.error_flags:
            out["error_flags"] = dict(self.error_flags)
        if self.scatter:
            out["scatter"] = {k: _finite_or_none(v) for k, v in self.scatter.items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SersicComponent:
        errors = {
            k: (math.inf if v is None else float(v)) for k, v in (data.get("errors") or {}).items()
        }
        scatter = {
            k: (math.inf if v is None else float(v)) for k, v in (data.get("scatter") or {}).items()
        }
        return cls(
            **{name: float(data[name]) for name in COMPONENT_PARAMETERS if name in data},
            errors=errors,
            error_flags=dict(data.get("error_flags") or {}),
            scatter=scatter,
        )


@dataclass(frozen=True)
class LogSpiralFit:
    """A log-spiral fitted to an arm, in the plane of the disk it was deprojected with.

    The arm is ``r(θ) = a·exp(θ·tan φ)`` for θ in [t_min, t_max], projected with the disk
    (spec §6.9); φ = ``chirality · pitch_angle_deg``.
    """

    a: float  # px
    pitch_angle_deg: float  # magnitude, degrees
    chirality: int  # +1 or -1
    t_min: float  # rad
    t_max: float  # rad
    pitch_angle_err_deg: float | None = None
    length_px: float | None = None
    r_squared: float | None = None
    n_members: int | None = None
    pitch_angle_err_flag: str | None = None  # why there is no pitch_angle_err_deg
    pitch_angle_scatter_deg: float | None = None  # spread of the members' pitch angles

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogSpiralFit:
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


def _plain(value: Any) -> Any:
    """numpy scalars → Python scalars, non-finite floats → None (JSON-safe)."""
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return _finite_or_none(float(value))
    return value


@dataclass(frozen=True, eq=False)
class SpiralArm:
    """A spiral arm: a poly-line on the image, with the brightness of a Gaussian ridge.

    Attributes
    ----------
    points
        (N, 2) float array of (x, y) vertices in the image frame, pixels.
    intensity
        Peak brightness of the ridge relative to the disk profile.
    spread
        Gaussian σ of the ridge across the arm, pixels.
    falloff
        Radial falloff of the arm brightness (the disk-profile Re is divided by it).
    fit
        The log-spiral fitted to it (aggregate and tuned arms), or None for a drawn arm.
    """

    points: np.ndarray
    intensity: float
    spread: float
    falloff: float = 1.0
    fit: LogSpiralFit | None = None

    def __post_init__(self) -> None:
        points = np.asarray(self.points, dtype=np.float64).reshape(-1, 2)
        object.__setattr__(self, "points", points)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpiralArm):
            return NotImplemented
        return np.array_equal(self.points, other.points) and (
            self.intensity,
            self.spread,
            self.falloff,
            self.fit,
        ) == (other.intensity, other.spread, other.falloff, other.fit)

    __hash__ = None  # type: ignore[assignment]  # holds an array

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "points": self.points.tolist(),
            "intensity": float(self.intensity),
            "spread": float(self.spread),
            "falloff": float(self.falloff),
        }
        if self.fit is not None:
            out["fit"] = self.fit.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpiralArm:
        fit = data.get("fit")
        return cls(
            points=np.asarray(data["points"], dtype=np.float64).reshape(-1, 2),
            intensity=float(data["intensity"]),
            spread=float(data["spread"]),
            falloff=float(data.get("falloff", 1.0)),
            fit=LogSpiralFit.from_dict(fit) if fit else None,
        )


@dataclass(frozen=True)
class GalaxyModel:
    """A whole galaxy model: up to one disk, bulge and bar, and any number of arms."""

    disk: SersicComponent | None = None
    bulge: SersicComponent | None = None
    bar: SersicComponent | None = None
    arms: tuple[SpiralArm, ...] = ()

    def components(self) -> dict[str, SersicComponent]:
        """The components that are present, keyed by name, in rendering order."""
        return {name: comp for name in COMPONENT_NAMES if (comp := getattr(self, name)) is not None}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            name: (comp.to_dict() if (comp := getattr(self, name)) is not None else None)
            for name in COMPONENT_NAMES
        }
        out["arms"] = [arm.to_dict() for arm in self.arms]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GalaxyModel:
        parts = {
            name: SersicComponent.from_dict(data[name]) if data.get(name) else None
            for name in COMPONENT_NAMES
        }
        arms = tuple(SpiralArm.from_dict(arm) for arm in data.get("arms") or ())
        return cls(**parts, arms=arms)


@dataclass(frozen=True, eq=False)
class SubjectImage:
    """What the fit and the parser need to know about one subject's cutout.

    Attributes
    ----------
    image
        (H, W) float64 fit target, in units of the cutout divided by ``multiplier``.
    mask
        (H, W) bool, **True = excluded** from every fit (other sources, bad pixels).
    psf
        (k, k) float64 kernel, k odd, normalised to sum 1.
    sigma
        (H, W) float64 1σ per pixel, same units as ``image``; None until estimated or given.
    sigma_source
        ``"given"`` (from fitting metadata) or ``"estimated"`` (see ``estimate_sigma``).
    canvas_width, canvas_height
        Size of the drawing canvas the volunteers used, canvas pixels (512 wide).
    multiplier
        The factor the cutout was divided by before it was shown to volunteers.
    rotation_correction
        Radians the volunteer drawing must be rotated by to match the image (spec §3.8).
    """

    image: np.ndarray
    mask: np.ndarray
    psf: np.ndarray
    sigma: np.ndarray | None = None
    sigma_source: str | None = None
    canvas_width: int = 512
    canvas_height: int = 512
    multiplier: float = 1.0
    rotation_correction: float = 0.0

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
