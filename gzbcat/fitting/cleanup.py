"""Post-fit clean-up of a tuned model (spec §8.7), with the reference's bugs fixed.

The fit lets the disk and bulge axis ratio exceed 1 (spec §8.4) and lets rolls leave [0, π);
a luminosity may end exactly on its lower bound of zero. The clean-up turns the fitted model
into the catalogue's conventions (DESIGN §6) without changing the rendered image:

1. **Fold q > 1** (``correct_axratio``): ``q ← 1/q``, ``re ← re·q``, ``roll ← roll + π/2``.
   The luminosity ``∝ re²·q`` and so the intensity are unchanged. Sizes are absolute here
   (the model's ``re``), so a flipped disk needs no change to the bulge and bar sizes, which
   the reference had to patch through its relative ``scale``.
2. **Wrap every roll into [0, π)**: a Sérsic component is symmetric under a half turn.
3. **Keep arms fixed on the sky.** Fitted arms are log spirals in the disk frame (spec §7.4),
   so whenever the disk frame changes (steps 1 and 2) each arm is re-expressed in the new
   frame (:func:`reframe_arm`). The reference turned arms by the wrong sign of the roll change
   during the fit (spec §8.6) — that sign is already baked in by
   ``ParameterSpace.to_model`` for the method used — and did not compensate the wrap.
4. **Remove zero-brightness parts** (``remove_zero_brightness_components``): a component with
   intensity exactly 0 or an arm with intensity exactly 0 is dropped; arms are a tuple, so
   they are renumbered 0..k−1 by construction (no ``.i`` key regex, spec §12.1 #19).

Errors in ``SersicComponent.errors`` are carried through the same transforms (first order,
ignoring covariances between re and q).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

from gzbcat.model import GalaxyModel, SersicComponent, SpiralArm, wrap_roll

__all__ = ["clean_up", "fold_axis_ratio", "reframe_arm", "wrap_roll"]


def reframe_arm(arm: SpiralArm, roll_change: float, length_factor: float = 1.0) -> SpiralArm:
    """Re-express a fitted arm in a disk frame turned by ``roll_change`` (and rescaled).

    With the placement ``p = Rot(roll)·diag(q, 1)·ρ(θ)(cos θ, sin θ) + μ`` (spec §7.4), a
    new frame ``roll' = roll + δ`` sees the same image point at ``θ' = θ − δ``; if the disk
    plane is also rescaled by ``length_factor`` (the q > 1 fold: ``q' = 1/q``, δ = π/2,
    factor q), ``ρ' = factor·ρ``. For ``ρ = A·exp(θ·tan φ)`` that is

        A' = factor · A · exp(δ · tan φ),   t_min' = t_min − δ,   t_max' = t_max − δ.

    Drawn arms (no fit) are poly-lines on the image and are returned unchanged.
    """
    fit = arm.fit
    if fit is None:
        return arm
    tan_phi = math.tan(math.radians(fit.chirality * fit.pitch_angle_deg))
    new_fit = replace(
        fit,
        a=length_factor * fit.a * math.exp(roll_change * tan_phi),
        t_min=fit.t_min - roll_change,
        t_max=fit.t_max - roll_change,
    )
    return replace(arm, fit=new_fit)


def _with(
    component: SersicComponent, errors: Mapping[str, float], **changes: float
) -> SersicComponent:
    return replace(component, errors=dict(errors), **changes)


def fold_axis_ratio(component: SersicComponent) -> SersicComponent:
    """Return the component with q > 1 folded to 1/q (same image); others unchanged.

    ``q ← 1/q``, ``re ← re·q``, ``roll ← roll + π/2`` (not wrapped); errors follow to first
    order: ``σ_q' = σ_q/q²``, ``σ_re' = hypot(q·σ_re, re·σ_q)``.
    """
    q = float(component.q)
    if q <= 1.0:
        return component
    errors = dict(component.errors)
    if "q" in errors:
        errors["q"] = errors["q"] / q**2
    if "re" in errors or "q" in errors:
        sigma_re = errors.get("re", 0.0)
        sigma_q = component.errors.get("q", 0.0)
        errors["re"] = math.hypot(q * sigma_re, component.re * sigma_q)
    return _with(
        component,
        errors,
        q=1.0 / q,
        re=component.re * q,
        roll=component.roll + math.pi / 2,
    )


def clean_up(model: GalaxyModel) -> GalaxyModel:
    """Bring a fitted model to the catalogue's conventions without changing its image.

    Parameters
    ----------
    model
        The model restored from the fit vector (``ParameterSpace.to_model``), whose fitted
        arms are expressed in the frame of its own disk.

    Returns
    -------
    GalaxyModel
        Every component with q ≤ 1 and roll in [0, π); components and arms of exactly zero
        intensity removed (a removed disk removes the arms, which are modulations of it);
        fitted arms re-expressed so that they stay where they were on the image.
    """
    arms = list(model.arms)
    parts: dict[str, SersicComponent | None] = {}
    for name in ("disk", "bulge", "bar"):
        comp = getattr(model, name)
        if comp is None:
            parts[name] = None
            continue
        folded = fold_axis_ratio(comp)
        if name == "disk" and folded is not comp:
            arms = [reframe_arm(arm, math.pi / 2, length_factor=comp.q) for arm in arms]
        wrapped_roll = wrap_roll(folded.roll)
        if name == "disk":
            arms = [reframe_arm(arm, wrapped_roll - folded.roll) for arm in arms]
        folded = _with(folded, folded.errors, roll=wrapped_roll)
        parts[name] = None if folded.intensity == 0 else folded
    kept_arms = tuple(arm for arm in arms if arm.intensity != 0) if parts["disk"] else ()
    return GalaxyModel(disk=parts["disk"], bulge=parts["bulge"], bar=parts["bar"], arms=kept_arms)
