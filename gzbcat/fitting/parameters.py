"""The fit's parameter vector (spec §8.1): a model as a flat vector and back, with bounds.

:class:`ParameterSpace` maps a model to a flat vector and back. Entries, in this order, for
the parts the starting model has (a disk is required; everything is relative to it):

================  =========================================  ==================================
name              meaning                                    bounds (spec §8.4)
================  =========================================  ==================================
disk.mux/muy      disk centre, px                            free
disk.q            disk axis ratio                            [0.25, 1.2]
disk.roll         disk position angle, rad                   free
disk.re           disk effective radius, px                  ≥ 0.01
disk.L            disk total luminosity (n, c fixed)         ≥ 0
bulge.q/roll/n    bulge shape (c fixed)                      q [0.6, 1.2], n [0.5, 5]
bulge.scale       re_bulge / re_disk                         [0.05, 1]
bulge.frac        L_b / (L_b + D)                            [0, 0.99]
bar.q/roll/n/c    bar shape                                  q [0.05, 0.5], n [0.3, 5], c [1, 6]
bar.scale         re_bar / re_disk                           [0.05, 1]
bar.frac          L_bar / (L_bar + D)                        [0, 0.99]
centre.mux/muy    shared bulge and bar centre, px            free
armK.intensity    arm K brightness I                         ≥ 0
armK.spread       arm K Gaussian σ, px                       [0.5, 15]
armK.a            log-spiral A, px   (fitted arms only)      ≥ 0
armK.phi_deg      signed pitch angle, deg (fitted arms)      [−85, 85]
armK.t_min/t_max  θ range, rad (fitted arms)                 free
================  =========================================  ==================================

``D = L_disk + Σ_K (pixel sum of arm K)``, so each ``frac`` is a fraction of itself plus the
disk and the arms, ignoring the other of bulge/bar (spec §8.1). Drawn arms (no log-spiral
fit) contribute only intensity and spread; their poly-line is fixed on the image. Arm
geometry is measured at ``base_roll``, the starting disk roll (spec §8.6).

What the methods do differently is :data:`FITTING_RULES` (and, for the arms' placement and the
PSF, :mod:`gzbcat.rendering.rules`).

Gradients
---------
Everything is analytic (reverse mode by hand): the objective's pixel term back-propagates
through the PSF adjoint to the pre-PSF image, through each component's vector–Jacobian
product (``sersic``, ``spiral``) to its native parameters, and through the reparametrisation
(L → I with ∂ln(L/I)/∂(re, q, n, c); frac, scale and D) to the vector. The only numerical
derivative is db_n/dn for n < 0.36 (see ``sersic``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gzbcat.geometry import polyline_length
from gzbcat.model import (
    ARM_BOUNDS,
    COMPONENT_BOUNDS,
    GalaxyModel,
    LogSpiralFit,
    Method,
    MethodTable,
    SersicComponent,
    SpiralArm,
)
from gzbcat.rendering.psf import psf_operator
from gzbcat.rendering.render import default_oversample, render_components
from gzbcat.rendering.rules import RENDERING_RULES, Oversample
from gzbcat.rendering.sersic import (
    SamplingPlan,
    luminosity,
    luminosity_factor,
    luminosity_factor_log_gradient,
    plan_sampling,
    render_sersic,
    render_sersic_vjp,
    sersic_samples,
)
from gzbcat.rendering.spiral import (
    arm_image_vjp,
    arm_ridges,
    log_spiral_points,
    ridge_on_segments,
)

__all__ = ["FITTING_RULES", "FittingRules", "ForwardPass", "ParameterSpace", "RenderCache"]


@dataclass(frozen=True)
class FittingRules:
    """What the fit does differently under each method (spec §8, §12.1, §13).

    Attributes
    ----------
    bar_luminosity_with_c
        Convert the bar's luminosity to an intensity with its own boxiness c while rendering;
        the reference used c = 2 there (but c when restoring the model, spec §12.1 #1).
    honour_falloff
        An arm multiplies the disk profile with ``re/falloff``; the reference's fit ignored
        falloff and used the disk image itself.
    frac_of_itself_and_disk
        Start each ``frac`` at ``L/(L + D)``, the value the inverse mapping reproduces; the
        reference started it at ``L/L_total``.
    scaled_coordinates
        Optimise in curvature-scaled coordinates by default (see ``gzbcat.fitting.objective``);
        the reference moved in the raw vector.
    dof_subtracts_parameters
        Reduced χ² divides by unmasked pixels minus fitted entries; the reference divided by
        the pixels alone.
    arm_geometry_priors
        Hold each arm's log-spiral geometry (A, φ, θ range) to the starting model with spec
        §8.3's narrow priors (A ± 0.01 px, φ ± 1°, θ ± 0.5°), as the reference did; spec §12.2
        names it a weakness: the arms stay where the volunteers drew them and the disk moves
        to make up for it. Without them the pixels place the arms (the aggregate is the start),
        and on simulated galaxies with arms the tuned errors are calibrated.
    lbfgs_corrections
        Pairs of past steps L-BFGS-B keeps for its Hessian estimate (``maxcor``). The
        reference used scipy's 10; with 30 the fits of simulated galaxies (20–60 entries,
        coupled through the disk) take about 30 % fewer evaluations to the same optimum.
    """

    bar_luminosity_with_c: bool
    honour_falloff: bool
    frac_of_itself_and_disk: bool
    scaled_coordinates: bool
    dof_subtracts_parameters: bool
    arm_geometry_priors: bool
    lbfgs_corrections: int


FITTING_RULES: MethodTable[FittingRules] = MethodTable.from_columns(
    FittingRules,
    # switch = (corrected, reference)
    bar_luminosity_with_c=(True, False),
    honour_falloff=(True, False),
    frac_of_itself_and_disk=(True, False),
    scaled_coordinates=(True, False),
    dof_subtracts_parameters=(True, False),
    arm_geometry_priors=(False, True),
    lbfgs_corrections=(30, 10),
)


def _component_bound(component: str, parameter: str) -> tuple[float | None, float | None]:
    """A component bound of :data:`gzbcat.model.COMPONENT_BOUNDS` as L-BFGS-B wants it."""
    low, high = COMPONENT_BOUNDS[component][parameter]
    return (low, None if math.isinf(high) else high)


_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "disk.q": _component_bound("disk", "q"),
    "disk.re": _component_bound("disk", "re"),
    "disk.L": (0.0, None),
    "bulge.frac": (0.0, 0.99),
    "bulge.n": _component_bound("bulge", "n"),
    "bulge.q": _component_bound("bulge", "q"),
    "bulge.scale": (0.05, 1.0),
    "bar.c": _component_bound("bar", "c"),
    "bar.frac": (0.0, 0.99),
    "bar.n": _component_bound("bar", "n"),
    "bar.q": _component_bound("bar", "q"),
    "bar.scale": (0.05, 1.0),
    "arm.intensity": (ARM_BOUNDS["intensity"][0], None),
    "arm.a": (0.0, None),
    "arm.phi_deg": (-85.0, 85.0),
    "arm.spread": ARM_BOUNDS["spread"],
}
"""L-BFGS-B bounds (spec §8.4); names missing here are free. Arm keys are per arm. The
component and arm ones are the model's own bounds; luminosities, fractions, scales and arm
geometry exist only in the fit's vector."""


class RenderCache:
    """What recent renders computed that depends only on a part's shape, for reuse.

    A finite-difference Hessian moves one vector entry at a time, so most parts of the model
    keep their shape from one evaluation to the next: a Sérsic part's profile samples (which
    do not depend on its intensity) and an arm's ridge (which depends on its poly-line and
    cutoff only) are then taken from here. Each key keeps its ``per_key`` most recent
    entries. Valid for one set of sampling plans (the keys hold the plans' identities).

    The optimiser's brightness stage (spec §8.5) moves only luminosities, so every part keeps
    its shape there, and the full stage's line searches return to points they have seen.

    With ``local_ridges`` an arm's ridge is measured exactly once; moved poly-lines keep its
    pixels and their nearest segments (:meth:`ridge`), the local piece of the distance around
    the first poly-line, so use such a cache only for evaluations near one point. Without it
    (the default) every entry is what the renders would compute afresh.
    """

    def __init__(self, per_key: int = 4, *, local_ridges: bool = False) -> None:
        self.per_key = per_key
        self.local_ridges = local_ridges
        self._store: dict[str, list[tuple[object, object]]] = {}
        self._first: dict[str, Any] = {}
        self.hits = 0
        self.misses = 0

    def ridge(self, arm: int, points: np.ndarray, spread: float, shape: tuple[int, int]) -> Any:
        """The ridge of an arm's poly-line: kept, or measured (with ``local_ridges``: the first
        one measured with its pixels' nearest segments kept,
        :func:`~gzbcat.rendering.spiral.ridge_on_segments`)."""
        key = f"ridge:{arm}"
        first = self._first.get(key) if self.local_ridges else None

        def make() -> Any:
            if first is None:
                return arm_ridges([(points, spread)], shape)[0]
            return ridge_on_segments(first, points, shape[1])

        ridge = self.get(key, (points.tobytes(), spread), make)
        self._first.setdefault(key, ridge)
        return ridge

    def get(self, key: str, subkey: object, make: Callable[[], Any]) -> Any:
        """The entry of ``key`` made for ``subkey``, made now (by ``make``) if not kept."""
        entries = self._store.setdefault(key, [])
        for i, (stored, value) in enumerate(entries):
            if stored == subkey:
                entries.append(entries.pop(i))
                self.hits += 1
                return value
        value = make()
        self.misses += 1
        entries.append((subkey, value))
        if len(entries) > self.per_key:
            del entries[0]
        return value


def _no_vjp(cotangent: np.ndarray) -> np.ndarray:
    raise RuntimeError("forward() was called without with_gradient=True")


def _signed_phi(fit: LogSpiralFit) -> float:
    return float(fit.chirality) * float(fit.pitch_angle_deg)


@dataclass
class ForwardPass:
    """What one render of a vector produced, and what its backward pass needs."""

    x: dict[str, float]
    images: dict[str, np.ndarray]
    total: np.ndarray
    backward: Callable[[np.ndarray], np.ndarray] | None = None
    components: dict[str, SersicComponent] = field(default_factory=dict)
    arm_points: list[np.ndarray] = field(default_factory=list)
    plans: dict[str, SamplingPlan] = field(default_factory=dict)
    light_d: float = math.nan


@dataclass(frozen=True, eq=False)
class ParameterSpace:
    """The fit's parameter vector for one starting model (spec §8.1).

    Build it with :meth:`from_model`; ``x0`` is the starting vector and the prior mean.

    Attributes
    ----------
    names
        Vector entries, in order (see the module docstring).
    x0
        Starting vector.
    template
        The starting model: supplies what the vector does not (disk n and c, bulge c, arm
        falloff, drawn-arm poly-lines, fit metadata).
    shape
        (H, W) of the image being fitted.
    base_roll
        Disk roll at which arm geometry was measured, rad.
    method
        ``corrected`` or ``reference``.
    oversample
        Sérsic pixel integration.
    """

    names: tuple[str, ...]
    x0: np.ndarray
    template: GalaxyModel
    shape: tuple[int, int]
    base_roll: float
    method: Method = Method.CORRECTED
    oversample: Oversample = "adaptive"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {name: i for i, name in enumerate(self.names)})

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Position of a named entry in the vector."""
        return self._index[name]  # type: ignore[attr-defined]

    @classmethod
    def from_model(
        cls,
        model: GalaxyModel,
        shape: tuple[int, int],
        *,
        method: Method = Method.CORRECTED,
        oversample: Oversample | None = None,
    ) -> ParameterSpace:
        """Reparametrise a starting model (normally the aggregate) for the fit.

        Parameters
        ----------
        model
            Starting model; must have a disk.
        shape
            (H, W) of the image to fit.
        method
            ``corrected`` or ``reference``.
        oversample
            Sérsic pixel integration; None picks the method's default.
        """
        disk = model.disk
        if disk is None:
            raise ValueError("the fit's parameter space is relative to the disk; model has none")
        sampling = default_oversample(method) if oversample is None else oversample
        values: dict[str, float] = {
            "disk.mux": disk.mux,
            "disk.muy": disk.muy,
            "disk.q": disk.q,
            "disk.roll": disk.roll,
            "disk.re": disk.re,
            "disk.L": luminosity(disk.intensity, disk.re, disk.q, disk.n, disk.c, method=method),
        }
        # Arm light at the starting (= base) roll: reference helper, or the corrected renderer.
        parts = render_components(
            GalaxyModel(disk=disk, arms=model.arms), shape, method=method, oversample=sampling
        )
        arm_light = sum(float(parts[f"arm{k}"].sum()) for k in range(len(model.arms)))
        light_d = values["disk.L"] + arm_light
        lum = {
            name: luminosity(comp.intensity, comp.re, comp.q, comp.n, comp.c, method=method)
            for name, comp in (("bulge", model.bulge), ("bar", model.bar))
            if comp is not None
        }
        light_total = light_d + sum(lum.values())
        centres = []
        for name in ("bulge", "bar"):
            comp = getattr(model, name)
            if comp is None:
                continue
            values[f"{name}.q"] = comp.q
            values[f"{name}.roll"] = comp.roll
            values[f"{name}.n"] = comp.n
            if name == "bar":
                values["bar.c"] = comp.c
            values[f"{name}.scale"] = comp.re / disk.re
            if FITTING_RULES[method].frac_of_itself_and_disk:
                values[f"{name}.frac"] = lum[name] / (lum[name] + light_d)
            else:
                values[f"{name}.frac"] = lum[name] / light_total
            centres.append((comp.mux, comp.muy))
        if centres:
            values["centre.mux"] = float(np.nanmean([c[0] for c in centres]))
            values["centre.muy"] = float(np.nanmean([c[1] for c in centres]))
        for k, arm in enumerate(model.arms):
            values[f"arm{k}.intensity"] = arm.intensity
            values[f"arm{k}.spread"] = arm.spread
            if arm.fit is not None:
                values[f"arm{k}.a"] = arm.fit.a
                values[f"arm{k}.phi_deg"] = _signed_phi(arm.fit)
                values[f"arm{k}.t_min"] = arm.fit.t_min
                values[f"arm{k}.t_max"] = arm.fit.t_max
        names = tuple(values)
        return cls(
            names=names,
            x0=np.array([float(values[n]) for n in names]),
            template=model,
            shape=(int(shape[0]), int(shape[1])),
            base_roll=float(disk.roll),
            method=method,
            oversample=sampling,
        )

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """(lower, upper) per entry for ``scipy.optimize.minimize(..., bounds=…)`` (spec §8.4)."""
        out = []
        for name in self.names:
            part, key = name.split(".", 1)
            if part.startswith("arm"):
                part = "arm"
            out.append(_BOUNDS.get(f"{part}.{key}", (None, None)))
        return out

    def as_dict(self, x: np.ndarray) -> dict[str, float]:
        """Vector → {name: value}."""
        return {name: float(value) for name, value in zip(self.names, x, strict=True)}

    # ----------------------------------------------------------------------------------------
    # Forward and backward
    # ----------------------------------------------------------------------------------------

    def _bulge_bar_c(self, name: str, c: float) -> float:
        """c used to convert luminosity to intensity while rendering (spec §12.1 #1)."""
        if name == "bar" and not FITTING_RULES[self.method].bar_luminosity_with_c:
            return 2.0
        return c

    def _disk_component(self, v: Mapping[str, float]) -> tuple[SersicComponent, float]:
        """The disk of a vector (as a dict) and its luminosity factor L/I."""
        tmpl_disk = self.template.disk
        assert tmpl_disk is not None
        n_d, c_d = float(tmpl_disk.n), float(tmpl_disk.c)
        re_d, q_d = v["disk.re"], v["disk.q"]
        k_d = luminosity_factor(re_d, q_d, n_d, c_d, method=self.method)
        disk = SersicComponent(
            mux=v["disk.mux"],
            muy=v["disk.muy"],
            roll=v["disk.roll"],
            re=re_d,
            q=q_d,
            intensity=v["disk.L"] / k_d,
            n=n_d,
            c=c_d,
        )
        return disk, k_d

    def _bulge_bar_component(
        self, v: Mapping[str, float], name: str, light_d: float
    ) -> tuple[SersicComponent, float, float]:
        """The bulge or bar of a vector as rendered, its L/I and the c that L/I used.

        ``light_d`` is D, the disk luminosity plus the arms' pixel sums (spec §8.1).
        """
        comp_t = getattr(self.template, name)
        frac, scale = v[f"{name}.frac"], v[f"{name}.scale"]
        q, n = v[f"{name}.q"], v[f"{name}.n"]
        c = v["bar.c"] if name == "bar" else float(comp_t.c)
        c_lum = self._bulge_bar_c(name, c)
        re_c = v["disk.re"] * scale
        lum_c = frac * light_d / (1.0 - frac)
        k_c = luminosity_factor(re_c, q, n, c_lum, method=self.method)
        comp = SersicComponent(
            mux=v["centre.mux"],
            muy=v["centre.muy"],
            roll=v[f"{name}.roll"],
            re=re_c,
            q=q,
            intensity=lum_c / k_c,
            n=n,
            c=c,
        )
        return comp, k_c, c_lum

    def restored_components(self, x: np.ndarray, light_d: float) -> dict[str, SersicComponent]:
        """The components :meth:`to_model` returns for ``x``, given D (no rendering).

        D, the disk luminosity plus the arms' pixel sums, is the only part of the mapping
        that needs the arms rendered (``forward(x).light_d``); with it given, the mapping
        from the vector to the catalogue's component parameters is closed-form, which the
        error propagation differentiates (:mod:`gzbcat.fitting.uncertainty`).
        """
        v = self.as_dict(x)
        disk, _ = self._disk_component(v)
        comps = {"disk": disk}
        for name in ("bulge", "bar"):
            if getattr(self.template, name) is not None:
                comps[name] = self._bulge_bar_component(v, name, light_d)[0]
        return self._restore_bar_intensity(comps)

    def _restore_bar_intensity(
        self, comps: dict[str, SersicComponent]
    ) -> dict[str, SersicComponent]:
        """``reference`` mode restores the bar intensity with its c although the fit rendered
        it with c = 2 (spec §8.1, §12.1 #1); ``corrected`` returns the components as they are."""
        if "bar" in comps and not FITTING_RULES[self.method].bar_luminosity_with_c:
            bar = comps["bar"]
            rendered_k = luminosity_factor(bar.re, bar.q, bar.n, 2.0, method=self.method)
            lum_bar = bar.intensity * rendered_k
            k_c = luminosity_factor(bar.re, bar.q, bar.n, bar.c, method=self.method)
            comps = {**comps, "bar": bar.with_parameters(intensity=lum_bar / k_c)}
        return comps

    def forward(
        self,
        x: np.ndarray,
        *,
        with_gradient: bool = False,
        plans: Mapping[str, SamplingPlan] | None = None,
        cache: RenderCache | None = None,
    ) -> ForwardPass:
        """Render a vector's components (before the PSF); optionally prepare the gradient.

        Returns an object with ``images`` (per part), ``total`` (their sum), ``plans`` (the
        adaptive sampling plan each Sérsic image used, keyed ``disk``, ``bulge``, ``bar`` and
        ``profile:<falloff>`` for an arm's disk profile; empty with a uniform lattice) and,
        with ``with_gradient``, ``backward(w)``: the gradient of ``Σ w·total`` with respect to
        the vector, for an (H, W) cotangent ``w``.

        ``plans`` (as returned by an earlier call) fixes the sampling instead of planning it
        for ``x``: the image is then a smooth function of the vector (see
        :meth:`sampling_plans`). ``cache`` reuses the profile samples of Sérsic parts and the
        ridges of arms whose shape has not changed since a recent call (the image is the
        same either way).
        """
        v = self.as_dict(x)
        tmpl = self.template
        assert tmpl.disk is not None
        method, shape, sampling = self.method, self.shape, self.oversample
        n_d, c_d = float(tmpl.disk.n), float(tmpl.disk.c)
        re_d, q_d, lum_d = v["disk.re"], v["disk.q"], v["disk.L"]
        disk, k_d = self._disk_component(v)

        used_plans: dict[str, SamplingPlan] = {}

        def render(
            comp: SersicComponent, key: str
        ) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
            plan = None if plans is None else plans.get(key)
            if plan is None and sampling == "adaptive":
                plan = plan_sampling(comp, shape, sampling, method=method)
            if plan is not None:
                used_plans[key] = plan
            samples = None
            if cache is not None:
                shape_key = (*comp.parameters().values(), id(plan), sampling)
                shape_key = shape_key[:5] + shape_key[6:]  # all but the intensity
                samples = cache.get(
                    f"sersic:{key}",
                    shape_key,
                    lambda: sersic_samples(
                        comp, shape, oversample=sampling, method=method, plan=plan
                    ),
                )
            if with_gradient or samples is not None:
                image, vjp = render_sersic_vjp(
                    comp, shape, oversample=sampling, method=method, plan=plan, samples=samples
                )
                return image, vjp if with_gradient else _no_vjp
            image = render_sersic(comp, shape, oversample=sampling, method=method, plan=plan)
            return image, _no_vjp

        disk_img, disk_vjp = render(disk, "disk")
        images: dict[str, np.ndarray] = {"disk": disk_img}
        components = {"disk": disk}
        # Arm brightness profiles: the disk image itself, or the disk with re/falloff.
        profiles: dict[float, tuple[np.ndarray, Callable[[np.ndarray], np.ndarray] | None]] = {}
        arm_state = []
        arm_points = []
        arm_jacobians = []
        for k, arm in enumerate(tmpl.arms):
            if arm.fit is not None:
                points, jac = log_spiral_points(
                    v[f"arm{k}.a"],
                    v[f"arm{k}.phi_deg"],
                    v[f"arm{k}.t_min"],
                    v[f"arm{k}.t_max"],
                    disk,
                    base_roll=self.base_roll,
                    method=method,
                )
            else:
                points, jac = arm.points, None
            arm_points.append(points)
            arm_jacobians.append(jac)
        drawable = [
            (points, v[f"arm{k}.spread"]) if len(points) >= 2 and v[f"arm{k}.spread"] > 0 else None
            for k, points in enumerate(arm_points)
        ]
        if cache is None:
            ridges = arm_ridges(drawable, shape)
        else:
            ridges = [
                None if line is None else cache.ridge(k, line[0], line[1], shape)
                for k, line in enumerate(drawable)
            ]
        light_d = lum_d
        for k, arm in enumerate(tmpl.arms):
            falloff = max(float(arm.falloff), 1e-5)
            if not FITTING_RULES[method].honour_falloff or falloff == 1.0:
                falloff = 1.0
                profiles.setdefault(1.0, (disk_img, None))
            elif falloff not in profiles:
                prof_disk = disk.with_parameters(re=re_d / falloff)
                profiles[falloff] = render(prof_disk, f"profile:{falloff!r}")
            intensity, spread = v[f"arm{k}.intensity"], v[f"arm{k}.spread"]
            points, jac = arm_points[k], arm_jacobians[k]
            if drawable[k] is None:
                images[f"arm{k}"] = np.zeros(shape)
                arm_state.append(None)
                continue
            img, total, arm_vjp = arm_image_vjp(
                points, intensity, spread, profiles[falloff][0], jacobian=jac, ridge=ridges[k]
            )
            images[f"arm{k}"] = img
            light_d += total
            arm_state.append((falloff, arm_vjp, jac is not None))
        bb_state = []
        for name in ("bulge", "bar"):
            comp_t = getattr(tmpl, name)
            if comp_t is None:
                continue
            frac, scale = v[f"{name}.frac"], v[f"{name}.scale"]
            comp, k_c, c_lum = self._bulge_bar_component(v, name, light_d)
            img, comp_vjp = render(comp, name)
            images[name] = img
            components[name] = comp
            bb_state.append((name, comp, comp_vjp, k_c, c_lum, frac, scale))
        total = np.zeros(shape)
        for image in images.values():
            total += image
        result = ForwardPass(
            v, images, total, None, components, arm_points, used_plans, light_d=light_d
        )
        if not with_gradient:
            return result
        index = self.index

        def backward(w: np.ndarray, light_cotangent: float = 0.0) -> np.ndarray:
            grad = np.zeros(len(self.names))
            g_light_d = float(light_cotangent)
            g_re_d = 0.0
            for name, comp, comp_vjp, k_c, c_lum, frac, scale in bb_state:
                g = comp_vjp(w)
                dln = luminosity_factor_log_gradient(comp.re, comp.q, comp.n, c_lum, method=method)
                g_int = g[5]
                g_int_i = g_int * comp.intensity
                grad[index("centre.mux")] += g[0]
                grad[index("centre.muy")] += g[1]
                grad[index(f"{name}.roll")] += g[2]
                grad[index(f"{name}.q")] += g[4] - g_int_i * dln[1]
                grad[index(f"{name}.n")] += g[6] - g_int_i * dln[2]
                if name == "bar":
                    grad[index("bar.c")] += g[7] - (g_int_i * dln[3] if c_lum == comp.c else 0.0)
                g_re_c = g[3] - g_int_i * dln[0]
                grad[index(f"{name}.scale")] += g_re_c * re_d
                g_re_d += g_re_c * scale
                g_lum = g_int / k_c
                grad[index(f"{name}.frac")] += g_lum * light_d / (1.0 - frac) ** 2
                g_light_d += g_lum * frac / (1.0 - frac)
            grad[index("disk.L")] += g_light_d
            profile_cot = {key: np.zeros(shape) for key in profiles}
            for k, state in enumerate(arm_state):
                if state is None:
                    continue
                falloff, arm_vjp, fitted = state
                g, cot = arm_vjp(w, g_light_d)
                grad[index(f"arm{k}.intensity")] += g[0]
                grad[index(f"arm{k}.spread")] += g[1]
                if fitted:
                    for j, key in enumerate(("a", "phi_deg", "t_min", "t_max")):
                        grad[index(f"arm{k}.{key}")] += g[2 + j]
                    for j, key in enumerate(("mux", "muy", "roll", "q")):
                        grad[index(f"disk.{key}")] += g[6 + j]
                profile_cot[falloff] += cot
            disk_cot = w + profile_cot[1.0] if 1.0 in profile_cot else w
            g_disk = disk_vjp(disk_cot)
            for falloff, (_, prof_vjp) in profiles.items():
                if prof_vjp is None:
                    continue
                g_prof = prof_vjp(profile_cot[falloff])
                g_prof[3] /= falloff  # re_profile = re_disk / falloff
                g_disk = g_disk + g_prof
            dln_d = luminosity_factor_log_gradient(re_d, q_d, n_d, c_d, method=method)
            g_int_d = g_disk[5]
            grad[index("disk.mux")] += g_disk[0]
            grad[index("disk.muy")] += g_disk[1]
            grad[index("disk.roll")] += g_disk[2]
            grad[index("disk.re")] += g_disk[3] - g_int_d * disk.intensity * dln_d[0] + g_re_d
            grad[index("disk.q")] += g_disk[4] - g_int_d * disk.intensity * dln_d[1]
            grad[index("disk.L")] += g_int_d / k_d
            return grad

        result.backward = backward
        return result

    def sampling_plans(self, x: np.ndarray) -> dict[str, SamplingPlan]:
        """The adaptive sampling plans of the Sérsic images at ``x`` (empty for a uniform one).

        Passed back to :meth:`forward` they freeze the sampling: the adaptive plan moves a
        pixel to another lattice when the component changes, a jump in the image of up to the
        plan's tolerance, which breaks an optimiser's line search (L-BFGS-B's
        ``ABNORMAL_TERMINATION_IN_LNSRCH``) and finite-difference derivatives.
        """
        return self.forward(x).plans

    def render(self, x: np.ndarray, psf: np.ndarray | None = None) -> np.ndarray:
        """The model image of a vector (PSF-convolved if ``psf`` is given)."""
        total = self.forward(x).total
        if psf is None:
            return total
        return psf_operator(psf, self.shape, method=self.method)(total)

    def to_model(self, x: np.ndarray) -> GalaxyModel:
        """Restore a :class:`GalaxyModel` from a vector (spec §8.1 ``from_reparametrization``).

        Intensities come from the luminosities; the bulge and bar take the shared centre. Arm
        fits are re-expressed in the frame of the returned disk (the dpsi correction baked
        in, spec §8.7 step 1), so rendering the model with its own disk roll reproduces the
        arms that were fitted. In ``reference`` mode the bar intensity is restored with its
        c although the fit rendered it without (the reference's inconsistency).
        """
        result = self.forward(x)
        v = result.x
        comps = self._restore_bar_intensity(dict(result.components))
        disk = comps["disk"]
        dpsi = disk.roll - self.base_roll
        sign = RENDERING_RULES[self.method].arm_roll_sign
        arms = []
        for k, arm in enumerate(self.template.arms):
            fit = arm.fit
            points = result.arm_points[k]
            if fit is not None:
                phi = v[f"arm{k}.phi_deg"]
                tan_phi = math.tan(math.radians(phi))
                fit = replace(
                    fit,
                    a=v[f"arm{k}.a"] * math.exp(-sign * dpsi * tan_phi),
                    pitch_angle_deg=abs(phi),
                    chirality=(1 if phi > 0 else -1) if phi != 0 else fit.chirality,
                    t_min=v[f"arm{k}.t_min"] + sign * dpsi,
                    t_max=v[f"arm{k}.t_max"] + sign * dpsi,
                    length_px=polyline_length(points),  # the fit may have moved the arm
                )
            arms.append(
                SpiralArm(
                    points=points,
                    intensity=v[f"arm{k}.intensity"],
                    spread=v[f"arm{k}.spread"],
                    falloff=arm.falloff,
                    fit=fit,
                )
            )
        return GalaxyModel(
            disk=disk, bulge=comps.get("bulge"), bar=comps.get("bar"), arms=tuple(arms)
        )
