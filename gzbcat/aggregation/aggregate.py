"""Volunteer models → one aggregate model (spec §5 and §6), the pure core of the aggregate stage."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from gzbcat.model import COMPONENT_NAMES, MAX_ARM_POINTS, GalaxyModel, Method

from .jaccard import aggregate_component
from .params import AggregationParams
from .spirals import aggregate_arms

__all__ = ["AggregationResult", "aggregate"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AggregationResult:
    """The aggregate of one subject's volunteer models.

    Attributes
    ----------
    model
        The aggregate model: components with placeholder photometry and ``errors`` (spec
        §5.4–5.5), arms whose points are the fitted log spirals on the image (spec §6.9).
    members
        Part name (``disk``, ``bulge``, ``bar``, ``arm:<i>`` with ``i`` the index in
        ``model.arms``) → sorted indices into the input sequence of the volunteer models that
        the part was built from. Parts absent from the model are absent here.
    """

    model: GalaxyModel
    members: dict[str, list[int]] = field(default_factory=dict)


FAR_IMAGE_SIZES = 10.0
"""Parts of a stored model beyond this many image sizes (position or size) cannot be a drawing of
the galaxy; parsing refuses them, and aggregation leaves out any stored before it did, so that
its arithmetic stays finite for any model."""


def _plausible_parts(model: GalaxyModel, reach: float) -> GalaxyModel:
    """``model`` without the components and arms that are non-finite or beyond ``reach`` px,
    and arms of more than :data:`~gzbcat.model.MAX_ARM_POINTS` points (as if the volunteer had
    not drawn them); the model itself keeps its place in the list."""

    def near(values: Sequence[float] | np.ndarray) -> bool:
        array = np.asarray(values, dtype=float)
        return bool(np.isfinite(array).all() and (np.abs(array) <= reach).all())

    parts = {}
    for name in COMPONENT_NAMES:
        component = getattr(model, name)
        keep = component is not None and near(
            (component.mux, component.muy, component.re, component.intensity)
        )
        parts[name] = component if keep else None
    arms = tuple(
        arm for arm in model.arms if len(arm.points) <= MAX_ARM_POINTS and near(arm.points)
    )
    if len(arms) == len(model.arms) and all(parts[n] is getattr(model, n) for n in COMPONENT_NAMES):
        return model
    return replace(model, arms=arms, **parts)


def aggregate(
    volunteer_models: Sequence[GalaxyModel],
    image_shape: tuple[int, int],
    *,
    params: AggregationParams | None = None,
    method: Method = Method.CORRECTED,
) -> AggregationResult:
    """Aggregate parsed and sanitised volunteer models of one subject (spec §5, §6).

    Parameters
    ----------
    volunteer_models
        The subject's volunteer models (spec §4.1: already parsed and sanitised), image frame.
    image_shape
        (H, W) of the cutout, pixels: the spiral metric and deprojection are normalised by it.
    params
        Aggregation parameters; the defaults are the spec's values.
    method
        ``corrected`` (default: the bugs of spec §12.1 fixed) or ``reference`` (the published
        behaviour, for one-to-one comparison; spec §13); see :data:`AGGREGATION_RULES`.

    Returns
    -------
    The aggregate model and, per part, the volunteer models it was built from. Arms are
    aggregated only when a disk was: they are deprojected with it (spec §6).
    """
    method = Method(method)
    params = params or AggregationParams()
    reach = FAR_IMAGE_SIZES * max(image_shape)
    volunteer_models = [_plausible_parts(m, reach) for m in volunteer_models]
    parts = {}
    members: dict[str, list[int]] = {}
    for name in COMPONENT_NAMES:
        component, part_members = aggregate_component(
            [getattr(m, name) for m in volunteer_models], name, params=params, method=method
        )
        parts[name] = component
        if component is not None:
            members[name] = part_members
    arms = []
    disk = parts["disk"]
    drawn = [(arm.points, i) for i, m in enumerate(volunteer_models) for arm in m.arms]
    if disk is not None and drawn:
        for k, (arm, owners) in enumerate(
            aggregate_arms(drawn, disk, image_shape, params=params, method=method)
        ):
            arms.append(arm)
            members[f"arm:{k}"] = owners
    elif drawn:
        logger.info("no aggregate disk: %d drawn arms not aggregated", len(drawn))
    model = GalaxyModel(
        disk=parts["disk"], bulge=parts["bulge"], bar=parts["bar"], arms=tuple(arms)
    )
    return AggregationResult(model=model, members=members)
