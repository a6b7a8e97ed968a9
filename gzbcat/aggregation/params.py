"""Parameters of the aggregation, with the spec section each default comes from."""

from __future__ import annotations

from dataclasses import dataclass

from gzbcat.model import Method, MethodTable

__all__ = ["AGGREGATION_RULES", "AggregationMethod", "AggregationParams", "AggregationRules"]

AggregationMethod = Method
"""The science method (:class:`gzbcat.model.Method`), under the name this package used first."""


@dataclass(frozen=True)
class AggregationRules:
    """What the aggregation does differently under each method (spec §12.1, §13).

    Attributes
    ----------
    exact_shapes
        Jaccard distances from exact 64-gon polygons (shapely), and the aggregate shape by
        L-BFGS-B with finite differences from the members' arithmetic mean, as published.
        Otherwise one shared raster grid for all distances, and Nelder–Mead on an anti-aliased
        raster objective from the circular-mean roll (spec §12.1 bug 8, §12.4).
    equalised_fit_lines
        Every log-spiral fit uses the cluster's poly-lines resampled to one length; otherwise
        the first fit uses the raw drawings and a merge refits the members' lines as they are
        (bug 6).
    isotropic_scale
        The poly-line metric divides x by W and y by H, and deprojection uses the one length
        ``sqrt(W·H)``; otherwise coordinates are divided element-wise by ``(H, W)`` (bug 18).
        The two agree on square images.
    transitive_merge
        Near-duplicate arms merge as connected components; otherwise by the published greedy
        pair grouping, where an arm may join two groups (bug 7).
    """

    exact_shapes: bool
    equalised_fit_lines: bool
    isotropic_scale: bool
    transitive_merge: bool


AGGREGATION_RULES: MethodTable[AggregationRules] = MethodTable.from_columns(
    AggregationRules,
    # switch = (corrected, reference)
    exact_shapes=(False, True),
    equalised_fit_lines=(True, False),
    isotropic_scale=(True, False),
    transitive_merge=(True, False),
)


@dataclass(frozen=True)
class AggregationParams:
    """Every tunable number of the aggregation (frozen and hashable, so a stage can hash it).

    Attributes
    ----------
    disk_eps, bulge_eps, bar_eps
        DBSCAN radius on the Jaccard distance per component (spec §5.3, Appendix A:
        0.3, 0.4, 0.47839828189143974).
    component_min_samples
        DBSCAN ``min_samples`` for components, counting the point itself (spec §5.3: 4).
    jaccard_cells_per_shape
        Corrected mode only: the raster grid of the aggregate-shape optimisation is sized so
        that the median member covers about this many cells (the clustering matrix uses a
        third of it). Not in the reference (which used exact polygons); 1500 keeps Jaccard
        distances within about 1e-2 of the exact values (spec §12.4).
    spiral_eps
        DBSCAN radius on the poly-line metric, normalised squared units (spec §6.5: 1e-3).
    spiral_min_samples
        DBSCAN ``min_samples`` for arms (spec §6.5: 4).
    merge_distance
        Two fitted arms closer than this (normalised squared units) are merged (spec §6.7:
        5e-4).
    metric_cutoff_factor
        The poly-line metric is computed exactly only where a cheap lower bound (spec §6.4
        via bounding boxes) is at most this many times the threshold it is compared with
        (``spiral_eps`` for clustering, ``merge_distance`` for merging); other entries hold
        the bound. Any factor ≥ 1 gives the same clusters and merges as the exact metric;
        larger factors keep more entries exact (for inspection) at more cost. Not in the
        reference, which computed every entry.
    min_arm_points
        A drawn arm needs at least this many points (spec §6.1: "more than 5", so 6).
    centre_split_radius_px
        Arm points closer than this to the disk centre are cut out (spec §6.2: 2.5 px).
    lof_n_neighbors
        Neighbours of the grouped local-outlier-factor cleaning (spec §6.6.3: 20).
    bar_length_px
        Points of the fit closer than this to the centre get no weight (spec §6.6.7: the
        reference always passes 0, §12.1 bug 15).
    ridge_alpha_1, ridge_alpha_2, ridge_lambda_1, ridge_lambda_2
        Gamma hyper-priors of the Bayesian ridge log-spiral fit (spec §6.6.8, Appendix A).
    ridge_max_iter, ridge_tol
        Iteration cap and tolerance of the Bayesian ridge (spec §6.6.8: 300, 1e-3).
    min_r_squared
        Arms whose fit has a smaller R² are flagged bad and dropped (spec §6.6.8: 0.2).
    n_arm_samples
        Points of the fitted arm polyline (spec §6.6.9: 500 ``t_predict`` values).
    disk_intensity, bulge_intensity, bar_intensity
        Photometric placeholders of the aggregate components (spec §5.4: 0.2, 0.01, 0.01);
        n = 1 and c = 2 for every component.
    arm_intensity, arm_spread_px
        Placeholders of the aggregate arms (spec §6.9: 0.1, 3 px).
    """

    disk_eps: float = 0.3
    bulge_eps: float = 0.4
    bar_eps: float = 0.47839828189143974
    component_min_samples: int = 4
    jaccard_cells_per_shape: int = 1500
    spiral_eps: float = 1e-3
    spiral_min_samples: int = 4
    merge_distance: float = 5e-4
    metric_cutoff_factor: float = 2.0
    min_arm_points: int = 6
    centre_split_radius_px: float = 2.5
    lof_n_neighbors: int = 20
    bar_length_px: float = 0.0
    ridge_alpha_1: float = 1.0230488753392505e-08
    ridge_alpha_2: float = 0.6923902410146074
    ridge_lambda_1: float = 1e-6
    ridge_lambda_2: float = 1e-6
    ridge_max_iter: int = 300
    ridge_tol: float = 1e-3
    min_r_squared: float = 0.2
    n_arm_samples: int = 500
    disk_intensity: float = 0.2
    bulge_intensity: float = 0.01
    bar_intensity: float = 0.01
    arm_intensity: float = 0.1
    arm_spread_px: float = 3.0

    def __post_init__(self) -> None:
        if not self.metric_cutoff_factor >= 1.0:
            raise ValueError(
                f"metric_cutoff_factor must be at least 1, not {self.metric_cutoff_factor}"
            )

    def eps_for(self, component: str) -> float:
        """The DBSCAN eps of a component name (``disk``, ``bulge`` or ``bar``)."""
        return {"disk": self.disk_eps, "bulge": self.bulge_eps, "bar": self.bar_eps}[component]

    def intensity_for(self, component: str) -> float:
        """The placeholder intensity of a component name (spec §5.4)."""
        return {
            "disk": self.disk_intensity,
            "bulge": self.bulge_intensity,
            "bar": self.bar_intensity,
        }[component]
