"""Initial schema: every table of DESIGN §3.

Self-contained: it names its tables and columns here rather than importing the models, so
later changes to the models never change what this revision does.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 02:00:08.281459
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "external_tables",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("n_rows", sa.BigInteger(), nullable=False),
        sa.Column("ra_column", sa.String(length=128), nullable=True),
        sa.Column("dec_column", sa.String(length=128), nullable=True),
        sa.Column("key_columns", sa.Text(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_external_tables")),
    )
    op.create_table(
        "ingest_errors",
        sa.Column(
            "error_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column("subject_id", sa.BigInteger(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("error_id", name=op.f("pk_ingest_errors")),
    )
    op.create_table(
        "runs",
        sa.Column(
            "run_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("params_hash", sa.String(length=64), nullable=False),
        sa.Column("code_version", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_runs")),
    )
    op.create_table(
        "subjects",
        sa.Column("subject_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=True),
        sa.Column("subject_set_id", sa.BigInteger(), nullable=True),
        sa.Column("workflow_id", sa.BigInteger(), nullable=True),
        sa.Column("ra_deg", sa.Float(), nullable=True),
        sa.Column("dec_deg", sa.Float(), nullable=True),
        sa.Column("dr7objid", sa.BigInteger(), nullable=True),
        sa.Column("nsa_id", sa.BigInteger(), nullable=True),
        sa.Column("redshift", sa.Float(), nullable=True),
        sa.Column("petrosian_radius_arcsec", sa.Float(), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=True),
        sa.Column("locations", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_subjects")),
    )
    op.create_index(op.f("ix_subjects_dr7objid"), "subjects", ["dr7objid"], unique=False)
    op.create_index(op.f("ix_subjects_nsa_id"), "subjects", ["nsa_id"], unique=False)

    op.create_table(
        "classifications",
        sa.Column("classification_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("user_name", sa.Text(), nullable=True),
        sa.Column("workflow_id", sa.BigInteger(), nullable=True),
        sa.Column("workflow_version", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("annotations", sa.Text(), nullable=False),
        sa.Column("subject_data", sa.Text(), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=True),
        sa.Column("parse_status", sa.String(length=16), nullable=False),
        sa.Column("parse_error", sa.Text(), nullable=True),
        sa.Column("parse_method", sa.String(length=16), nullable=True),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.subject_id"],
            name=op.f("fk_classifications_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("classification_id", name=op.f("pk_classifications")),
    )
    op.create_index(
        op.f("ix_classifications_parse_status"), "classifications", ["parse_status"], unique=False
    )
    op.create_index(
        op.f("ix_classifications_subject_id"), "classifications", ["subject_id"], unique=False
    )

    op.create_table(
        "crossmatches",
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("row_key", sa.String(length=128), nullable=False),
        sa.Column("separation_arcsec", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.subject_id"],
            name=op.f("fk_crossmatches_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["table_name"],
            ["external_tables.name"],
            name=op.f("fk_crossmatches_table_name_external_tables"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "subject_id", "table_name", "row_key", name=op.f("pk_crossmatches")
        ),
    )
    op.create_index(
        op.f("ix_crossmatches_table_name"), "crossmatches", ["table_name"], unique=False
    )

    op.create_table(
        "stage_units",
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("params_hash", sa.String(length=64), nullable=True),
        sa.Column("input_hash", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.subject_id"],
            name=op.f("fk_stage_units_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("stage", "subject_id", name=op.f("pk_stage_units")),
    )
    op.create_index(
        op.f("ix_stage_units_stage_state"), "stage_units", ["stage", "state"], unique=False
    )

    op.create_table(
        "subject_images",
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("canvas_width", sa.Integer(), nullable=False),
        sa.Column("canvas_height", sa.Integer(), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=False),
        sa.Column("sigma", sa.LargeBinary(), nullable=False),
        sa.Column("mask", sa.LargeBinary(), nullable=False),
        sa.Column("psf", sa.LargeBinary(), nullable=False),
        sa.Column("sigma_source", sa.String(length=16), nullable=False),
        sa.Column("multiplier", sa.Float(), nullable=False),
        sa.Column("rotation_correction", sa.Float(), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=True),
        sa.Column("source_sha256", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.subject_id"],
            name=op.f("fk_subject_images_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_subject_images")),
    )
    op.create_table(
        "models",
        sa.Column(
            "model_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("classification_id", sa.BigInteger(), nullable=True),
        sa.Column("source_model_id", sa.BigInteger(), nullable=True),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["classification_id"],
            ["classifications.classification_id"],
            name=op.f("fk_models_classification_id_classifications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_models_run_id_runs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["source_model_id"],
            ["models.model_id"],
            name=op.f("fk_models_source_model_id_models"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.subject_id"],
            name=op.f("fk_models_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_models")),
    )
    op.create_index(
        op.f("ix_models_classification_id"), "models", ["classification_id"], unique=False
    )
    op.create_index(
        op.f("ix_models_subject_id_kind"), "models", ["subject_id", "kind"], unique=False
    )

    op.create_table(
        "arms",
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("arm_index", sa.Integer(), nullable=False),
        sa.Column("points", sa.LargeBinary(), nullable=False),
        sa.Column("intensity", sa.Float(), nullable=False),
        sa.Column("spread", sa.Float(), nullable=False),
        sa.Column("falloff", sa.Float(), nullable=False),
        sa.Column("a", sa.Float(), nullable=True),
        sa.Column("pitch_angle_deg", sa.Float(), nullable=True),
        sa.Column("pitch_angle_err_deg", sa.Float(), nullable=True),
        sa.Column("chirality", sa.SmallInteger(), nullable=True),
        sa.Column("t_min", sa.Float(), nullable=True),
        sa.Column("t_max", sa.Float(), nullable=True),
        sa.Column("length_px", sa.Float(), nullable=True),
        sa.Column("r_squared", sa.Float(), nullable=True),
        sa.Column("n_members", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.model_id"],
            name=op.f("fk_arms_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", "arm_index", name=op.f("pk_arms")),
    )
    op.create_table(
        "cluster_members",
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("part", sa.String(length=16), nullable=False),
        sa.Column("member_model_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_model_id"],
            ["models.model_id"],
            name=op.f("fk_cluster_members_member_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.model_id"],
            name=op.f("fk_cluster_members_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "model_id", "part", "member_model_id", name=op.f("pk_cluster_members")
        ),
    )
    op.create_index(
        op.f("ix_cluster_members_member_model_id"),
        "cluster_members",
        ["member_model_id"],
        unique=False,
    )

    op.create_table(
        "components",
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("component", sa.String(length=8), nullable=False),
        sa.Column("mux", sa.Float(), nullable=False),
        sa.Column("muy", sa.Float(), nullable=False),
        sa.Column("roll", sa.Float(), nullable=False),
        sa.Column("re", sa.Float(), nullable=False),
        sa.Column("q", sa.Float(), nullable=False),
        sa.Column("intensity", sa.Float(), nullable=False),
        sa.Column("n", sa.Float(), nullable=False),
        sa.Column("c", sa.Float(), nullable=False),
        sa.Column("mux_err", sa.Float(), nullable=True),
        sa.Column("muy_err", sa.Float(), nullable=True),
        sa.Column("roll_err", sa.Float(), nullable=True),
        sa.Column("re_err", sa.Float(), nullable=True),
        sa.Column("q_err", sa.Float(), nullable=True),
        sa.Column("intensity_err", sa.Float(), nullable=True),
        sa.Column("n_err", sa.Float(), nullable=True),
        sa.Column("c_err", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.model_id"],
            name=op.f("fk_components_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", "component", name=op.f("pk_components")),
    )
    op.create_table(
        "fits",
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("chi2", sa.Float(), nullable=True),
        sa.Column("chi2_nu", sa.Float(), nullable=True),
        sa.Column("n_pixels", sa.Integer(), nullable=True),
        sa.Column("loss", sa.Float(), nullable=True),
        sa.Column("n_iterations", sa.Integer(), nullable=True),
        sa.Column("converged", sa.Boolean(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("bulge_fraction", sa.Float(), nullable=True),
        sa.Column("bar_fraction", sa.Float(), nullable=True),
        sa.Column("spiral_fraction", sa.Float(), nullable=True),
        sa.Column("flux", sa.Float(), nullable=True),
        sa.Column("magnitude", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.model_id"],
            name=op.f("fk_fits_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_fits")),
    )


def downgrade() -> None:
    op.drop_table("fits")
    op.drop_table("components")
    op.drop_index(op.f("ix_cluster_members_member_model_id"), table_name="cluster_members")

    op.drop_table("cluster_members")
    op.drop_table("arms")
    op.drop_index(op.f("ix_models_subject_id_kind"), table_name="models")
    op.drop_index(op.f("ix_models_classification_id"), table_name="models")

    op.drop_table("models")
    op.drop_table("subject_images")
    op.drop_index(op.f("ix_stage_units_stage_state"), table_name="stage_units")

    op.drop_table("stage_units")
    op.drop_index(op.f("ix_crossmatches_table_name"), table_name="crossmatches")

    op.drop_table("crossmatches")
    op.drop_index(op.f("ix_classifications_subject_id"), table_name="classifications")
    op.drop_index(op.f("ix_classifications_parse_status"), table_name="classifications")

    op.drop_table("classifications")
    op.drop_index(op.f("ix_subjects_nsa_id"), table_name="subjects")
    op.drop_index(op.f("ix_subjects_dr7objid"), table_name="subjects")

    op.drop_table("subjects")
    op.drop_table("runs")
    op.drop_table("ingest_errors")
    op.drop_table("external_tables")
