"""The catalogue takes its arms from the tuned model once there is one.

A ``corrected`` fit moves the arms' log-spiral geometry (their pitch angles are measured by
the image, with the posterior's errors), so the view's arm count, pitch angles and their
errors come from the tuned model of each family, and from its source model (the aggregate or
the best individual) until the subject is tuned. No table changes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 09:30:00.000000
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP VIEW IF EXISTS catalogue")
    op.execute(CATALOGUE_VIEW_SQL)


def _view_sql_of(revision_file: str) -> str:
    """The view SQL frozen in an earlier revision (for the downgrade)."""
    path = Path(__file__).with_name(revision_file)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.CATALOGUE_VIEW_SQL)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS catalogue")
    op.execute(_view_sql_of("0004_uncertainties.py"))


CATALOGUE_VIEW_SQL = """\
CREATE VIEW catalogue AS
WITH picked_ids AS (
    SELECT
        s.subject_id,
        (SELECT MAX(t.model_id) FROM models AS t
            JOIN models AS o ON o.model_id = t.source_model_id
            WHERE t.subject_id = s.subject_id AND t.kind = 'tuned'
                AND o.kind = 'aggregate')
            AS tuned_model_id,
        (SELECT MAX(m.model_id) FROM models AS m
            WHERE m.subject_id = s.subject_id AND m.kind = 'aggregate')
            AS newest_source_model_id,
        (SELECT MAX(t.model_id) FROM models AS t
            JOIN models AS o ON o.model_id = t.source_model_id
            WHERE t.subject_id = s.subject_id AND t.kind = 'tuned'
                AND o.kind = 'best_individual')
            AS bi_tuned_model_id,
        (SELECT MAX(m.model_id) FROM models AS m
            WHERE m.subject_id = s.subject_id AND m.kind = 'best_individual')
            AS bi_newest_source_model_id
    FROM subjects AS s
),
picked AS (
    SELECT
        i.subject_id,
        i.tuned_model_id,
        COALESCE((SELECT t.source_model_id FROM models AS t
                WHERE t.model_id = i.tuned_model_id),
            i.newest_source_model_id) AS source_model_id,
        COALESCE(i.tuned_model_id, i.newest_source_model_id) AS arm_model_id,
        i.bi_tuned_model_id,
        COALESCE((SELECT t.source_model_id FROM models AS t
                WHERE t.model_id = i.bi_tuned_model_id),
            i.bi_newest_source_model_id) AS bi_source_model_id,
        COALESCE(i.bi_tuned_model_id, i.bi_newest_source_model_id) AS bi_arm_model_id
    FROM picked_ids AS i
),
arm_stats AS (
    SELECT u.model_id,
        COUNT(*) AS n_arms,
        SUM(u.w * u.pitch_angle_deg) / NULLIF(SUM(u.w), 0) AS pitch_angle_deg,
        CASE WHEN COUNT(u.missing_err) = 0
            THEN SQRT(SUM(u.w * u.w * u.pitch_angle_err_deg * u.pitch_angle_err_deg))
                / NULLIF(SUM(u.w), 0)
        END AS pitch_angle_err_deg
    FROM (
        SELECT a.model_id, a.pitch_angle_deg, a.pitch_angle_err_deg,
            CASE WHEN a.pitch_angle_deg IS NOT NULL THEN a.length_px END AS w,
            CASE WHEN a.pitch_angle_deg IS NOT NULL AND a.length_px IS NOT NULL
                AND a.pitch_angle_err_deg IS NULL THEN 1 END AS missing_err
        FROM picked AS p JOIN arms AS a ON a.model_id = p.arm_model_id
    ) AS u
    GROUP BY u.model_id
),
bi_arm_stats AS (
    SELECT u.model_id,
        COUNT(*) AS n_arms,
        SUM(u.w * u.pitch_angle_deg) / NULLIF(SUM(u.w), 0) AS pitch_angle_deg,
        CASE WHEN COUNT(u.missing_err) = 0
            THEN SQRT(SUM(u.w * u.w * u.pitch_angle_err_deg * u.pitch_angle_err_deg))
                / NULLIF(SUM(u.w), 0)
        END AS pitch_angle_err_deg
    FROM (
        SELECT a.model_id, a.pitch_angle_deg, a.pitch_angle_err_deg,
            CASE WHEN a.pitch_angle_deg IS NOT NULL THEN a.length_px END AS w,
            CASE WHEN a.pitch_angle_deg IS NOT NULL AND a.length_px IS NOT NULL
                AND a.pitch_angle_err_deg IS NULL THEN 1 END AS missing_err
        FROM picked AS p JOIN arms AS a ON a.model_id = p.bi_arm_model_id
    ) AS u
    GROUP BY u.model_id
)
SELECT
    s.subject_id AS subject_id,
    s.subject_set_id AS subject_set_id,
    s.dr7objid AS dr7objid,
    s.nsa_id AS nsa_id,
    s.ra_deg AS ra_deg,
    s.dec_deg AS dec_deg,
    s.redshift AS redshift,
    s.petrosian_radius_arcsec AS petrosian_radius_arcsec,
    (SELECT COUNT(*) FROM classifications AS c
        WHERE c.subject_id = s.subject_id) AS n_classifications,
    p.tuned_model_id AS tuned_model_id,
    p.source_model_id AS source_model_id,
    disk.mux AS disk_mux,
    disk.mux_err AS disk_mux_err,
    disk.muy AS disk_muy,
    disk.muy_err AS disk_muy_err,
    disk.roll AS disk_roll,
    disk.roll_err AS disk_roll_err,
    disk.re AS disk_re,
    disk.re_err AS disk_re_err,
    disk.q AS disk_q,
    disk.q_err AS disk_q_err,
    disk.intensity AS disk_intensity,
    disk.intensity_err AS disk_intensity_err,
    disk.n AS disk_n,
    disk.n_err AS disk_n_err,
    disk.c AS disk_c,
    disk.c_err AS disk_c_err,
    disk.error_flags AS disk_error_flags,
    bulge.mux AS bulge_mux,
    bulge.mux_err AS bulge_mux_err,
    bulge.muy AS bulge_muy,
    bulge.muy_err AS bulge_muy_err,
    bulge.roll AS bulge_roll,
    bulge.roll_err AS bulge_roll_err,
    bulge.re AS bulge_re,
    bulge.re_err AS bulge_re_err,
    bulge.q AS bulge_q,
    bulge.q_err AS bulge_q_err,
    bulge.intensity AS bulge_intensity,
    bulge.intensity_err AS bulge_intensity_err,
    bulge.n AS bulge_n,
    bulge.n_err AS bulge_n_err,
    bulge.c AS bulge_c,
    bulge.c_err AS bulge_c_err,
    bulge.error_flags AS bulge_error_flags,
    bar.mux AS bar_mux,
    bar.mux_err AS bar_mux_err,
    bar.muy AS bar_muy,
    bar.muy_err AS bar_muy_err,
    bar.roll AS bar_roll,
    bar.roll_err AS bar_roll_err,
    bar.re AS bar_re,
    bar.re_err AS bar_re_err,
    bar.q AS bar_q,
    bar.q_err AS bar_q_err,
    bar.intensity AS bar_intensity,
    bar.intensity_err AS bar_intensity_err,
    bar.n AS bar_n,
    bar.n_err AS bar_n_err,
    bar.c AS bar_c,
    bar.c_err AS bar_c_err,
    bar.error_flags AS bar_error_flags,
    fit.bulge_fraction AS bulge_fraction,
    fit.bar_fraction AS bar_fraction,
    fit.spiral_fraction AS spiral_fraction,
    fit.flux AS flux,
    fit.magnitude AS magnitude,
    fit.bulge_fraction_err AS bulge_fraction_err,
    fit.bar_fraction_err AS bar_fraction_err,
    fit.spiral_fraction_err AS spiral_fraction_err,
    fit.flux_err AS flux_err,
    fit.magnitude_err AS magnitude_err,
    fit.error_flags AS fit_error_flags,
    fit.error_scale AS error_scale,
    CASE WHEN fit.hessian_positive_definite IS NULL THEN NULL
        WHEN fit.hessian_positive_definite THEN 1 ELSE 0 END AS hessian_positive_definite,
    fit.chi2_nu AS chi2_nu,
    CASE WHEN fit.converged IS NULL THEN NULL
        WHEN fit.converged THEN 1 ELSE 0 END AS fit_converged,
    CASE WHEN p.tuned_model_id IS NULL THEN NULL
        WHEN bulge.model_id IS NULL THEN 0 ELSE 1 END AS has_bulge,
    CASE WHEN p.tuned_model_id IS NULL THEN NULL
        WHEN bar.model_id IS NULL THEN 0 ELSE 1 END AS has_bar,
    CASE WHEN p.source_model_id IS NULL THEN NULL
        ELSE COALESCE(arm_stats.n_arms, 0) END AS n_arms,
    arm_stats.pitch_angle_deg AS pitch_angle_deg,
    arm_stats.pitch_angle_err_deg AS pitch_angle_err_deg,
    arm0.pitch_angle_deg AS pitch_angle_0_deg,
    arm0.pitch_angle_err_deg AS pitch_angle_0_err_deg,
    arm0.pitch_angle_scatter_deg AS pitch_angle_0_scatter_deg,
    arm0.chirality AS chirality_0,
    arm1.pitch_angle_deg AS pitch_angle_1_deg,
    arm1.pitch_angle_err_deg AS pitch_angle_1_err_deg,
    arm1.pitch_angle_scatter_deg AS pitch_angle_1_scatter_deg,
    arm1.chirality AS chirality_1,
    arm2.pitch_angle_deg AS pitch_angle_2_deg,
    arm2.pitch_angle_err_deg AS pitch_angle_2_err_deg,
    arm2.pitch_angle_scatter_deg AS pitch_angle_2_scatter_deg,
    arm2.chirality AS chirality_2,
    arm3.pitch_angle_deg AS pitch_angle_3_deg,
    arm3.pitch_angle_err_deg AS pitch_angle_3_err_deg,
    arm3.pitch_angle_scatter_deg AS pitch_angle_3_scatter_deg,
    arm3.chirality AS chirality_3,
    p.bi_tuned_model_id AS bi_tuned_model_id,
    p.bi_source_model_id AS bi_source_model_id,
    bi_disk.mux AS bi_disk_mux,
    bi_disk.mux_err AS bi_disk_mux_err,
    bi_disk.muy AS bi_disk_muy,
    bi_disk.muy_err AS bi_disk_muy_err,
    bi_disk.roll AS bi_disk_roll,
    bi_disk.roll_err AS bi_disk_roll_err,
    bi_disk.re AS bi_disk_re,
    bi_disk.re_err AS bi_disk_re_err,
    bi_disk.q AS bi_disk_q,
    bi_disk.q_err AS bi_disk_q_err,
    bi_disk.intensity AS bi_disk_intensity,
    bi_disk.intensity_err AS bi_disk_intensity_err,
    bi_disk.n AS bi_disk_n,
    bi_disk.n_err AS bi_disk_n_err,
    bi_disk.c AS bi_disk_c,
    bi_disk.c_err AS bi_disk_c_err,
    bi_disk.error_flags AS bi_disk_error_flags,
    bi_bulge.mux AS bi_bulge_mux,
    bi_bulge.mux_err AS bi_bulge_mux_err,
    bi_bulge.muy AS bi_bulge_muy,
    bi_bulge.muy_err AS bi_bulge_muy_err,
    bi_bulge.roll AS bi_bulge_roll,
    bi_bulge.roll_err AS bi_bulge_roll_err,
    bi_bulge.re AS bi_bulge_re,
    bi_bulge.re_err AS bi_bulge_re_err,
    bi_bulge.q AS bi_bulge_q,
    bi_bulge.q_err AS bi_bulge_q_err,
    bi_bulge.intensity AS bi_bulge_intensity,
    bi_bulge.intensity_err AS bi_bulge_intensity_err,
    bi_bulge.n AS bi_bulge_n,
    bi_bulge.n_err AS bi_bulge_n_err,
    bi_bulge.c AS bi_bulge_c,
    bi_bulge.c_err AS bi_bulge_c_err,
    bi_bulge.error_flags AS bi_bulge_error_flags,
    bi_bar.mux AS bi_bar_mux,
    bi_bar.mux_err AS bi_bar_mux_err,
    bi_bar.muy AS bi_bar_muy,
    bi_bar.muy_err AS bi_bar_muy_err,
    bi_bar.roll AS bi_bar_roll,
    bi_bar.roll_err AS bi_bar_roll_err,
    bi_bar.re AS bi_bar_re,
    bi_bar.re_err AS bi_bar_re_err,
    bi_bar.q AS bi_bar_q,
    bi_bar.q_err AS bi_bar_q_err,
    bi_bar.intensity AS bi_bar_intensity,
    bi_bar.intensity_err AS bi_bar_intensity_err,
    bi_bar.n AS bi_bar_n,
    bi_bar.n_err AS bi_bar_n_err,
    bi_bar.c AS bi_bar_c,
    bi_bar.c_err AS bi_bar_c_err,
    bi_bar.error_flags AS bi_bar_error_flags,
    bi_fit.bulge_fraction AS bi_bulge_fraction,
    bi_fit.bar_fraction AS bi_bar_fraction,
    bi_fit.spiral_fraction AS bi_spiral_fraction,
    bi_fit.flux AS bi_flux,
    bi_fit.magnitude AS bi_magnitude,
    bi_fit.bulge_fraction_err AS bi_bulge_fraction_err,
    bi_fit.bar_fraction_err AS bi_bar_fraction_err,
    bi_fit.spiral_fraction_err AS bi_spiral_fraction_err,
    bi_fit.flux_err AS bi_flux_err,
    bi_fit.magnitude_err AS bi_magnitude_err,
    bi_fit.error_flags AS bi_fit_error_flags,
    bi_fit.error_scale AS bi_error_scale,
    CASE WHEN bi_fit.hessian_positive_definite IS NULL THEN NULL
        WHEN bi_fit.hessian_positive_definite THEN 1 ELSE 0 END AS bi_hessian_positive_definite,
    bi_fit.chi2_nu AS bi_chi2_nu,
    CASE WHEN bi_fit.converged IS NULL THEN NULL
        WHEN bi_fit.converged THEN 1 ELSE 0 END AS bi_fit_converged,
    CASE WHEN p.bi_tuned_model_id IS NULL THEN NULL
        WHEN bi_bulge.model_id IS NULL THEN 0 ELSE 1 END AS bi_has_bulge,
    CASE WHEN p.bi_tuned_model_id IS NULL THEN NULL
        WHEN bi_bar.model_id IS NULL THEN 0 ELSE 1 END AS bi_has_bar,
    CASE WHEN p.bi_source_model_id IS NULL THEN NULL
        ELSE COALESCE(bi_arm_stats.n_arms, 0) END AS bi_n_arms,
    bi_arm_stats.pitch_angle_deg AS bi_pitch_angle_deg,
    bi_arm_stats.pitch_angle_err_deg AS bi_pitch_angle_err_deg,
    bi_arm0.pitch_angle_deg AS bi_pitch_angle_0_deg,
    bi_arm0.pitch_angle_err_deg AS bi_pitch_angle_0_err_deg,
    bi_arm0.pitch_angle_scatter_deg AS bi_pitch_angle_0_scatter_deg,
    bi_arm0.chirality AS bi_chirality_0,
    bi_arm1.pitch_angle_deg AS bi_pitch_angle_1_deg,
    bi_arm1.pitch_angle_err_deg AS bi_pitch_angle_1_err_deg,
    bi_arm1.pitch_angle_scatter_deg AS bi_pitch_angle_1_scatter_deg,
    bi_arm1.chirality AS bi_chirality_1,
    bi_arm2.pitch_angle_deg AS bi_pitch_angle_2_deg,
    bi_arm2.pitch_angle_err_deg AS bi_pitch_angle_2_err_deg,
    bi_arm2.pitch_angle_scatter_deg AS bi_pitch_angle_2_scatter_deg,
    bi_arm2.chirality AS bi_chirality_2,
    bi_arm3.pitch_angle_deg AS bi_pitch_angle_3_deg,
    bi_arm3.pitch_angle_err_deg AS bi_pitch_angle_3_err_deg,
    bi_arm3.pitch_angle_scatter_deg AS bi_pitch_angle_3_scatter_deg,
    bi_arm3.chirality AS bi_chirality_3
FROM subjects AS s
JOIN picked AS p ON p.subject_id = s.subject_id
LEFT JOIN fits AS fit ON fit.model_id = p.tuned_model_id
LEFT JOIN components AS disk ON disk.model_id = p.tuned_model_id
    AND disk.component = 'disk'
LEFT JOIN components AS bulge ON bulge.model_id = p.tuned_model_id
    AND bulge.component = 'bulge'
LEFT JOIN components AS bar ON bar.model_id = p.tuned_model_id
    AND bar.component = 'bar'
LEFT JOIN arm_stats ON arm_stats.model_id = p.arm_model_id
LEFT JOIN arms AS arm0 ON arm0.model_id = p.arm_model_id AND arm0.arm_index = 0
LEFT JOIN arms AS arm1 ON arm1.model_id = p.arm_model_id AND arm1.arm_index = 1
LEFT JOIN arms AS arm2 ON arm2.model_id = p.arm_model_id AND arm2.arm_index = 2
LEFT JOIN arms AS arm3 ON arm3.model_id = p.arm_model_id AND arm3.arm_index = 3
LEFT JOIN fits AS bi_fit ON bi_fit.model_id = p.bi_tuned_model_id
LEFT JOIN components AS bi_disk ON bi_disk.model_id = p.bi_tuned_model_id
    AND bi_disk.component = 'disk'
LEFT JOIN components AS bi_bulge ON bi_bulge.model_id = p.bi_tuned_model_id
    AND bi_bulge.component = 'bulge'
LEFT JOIN components AS bi_bar ON bi_bar.model_id = p.bi_tuned_model_id
    AND bi_bar.component = 'bar'
LEFT JOIN bi_arm_stats ON bi_arm_stats.model_id = p.bi_arm_model_id
LEFT JOIN arms AS bi_arm0 ON bi_arm0.model_id = p.bi_arm_model_id AND bi_arm0.arm_index = 0
LEFT JOIN arms AS bi_arm1 ON bi_arm1.model_id = p.bi_arm_model_id AND bi_arm1.arm_index = 1
LEFT JOIN arms AS bi_arm2 ON bi_arm2.model_id = p.bi_arm_model_id AND bi_arm2.arm_index = 2
LEFT JOIN arms AS bi_arm3 ON bi_arm3.model_id = p.bi_arm_model_id AND bi_arm3.arm_index = 3
"""
