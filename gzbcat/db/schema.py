"""The catalogue's tables (DESIGN §3) as SQLAlchemy 2 typed declarative models.

These classes are rows, not science objects: the value types live in ``gzbcat.model`` and the
conversion between the two lives in ``gzbcat.stages``. The schema only changes through Alembic
revisions in ``migrations/``; a test checks that the migrated database matches these models.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Arm",
    "Base",
    "Classification",
    "ClusterMember",
    "Component",
    "Crossmatch",
    "ExternalTable",
    "Fit",
    "IngestError",
    "Model",
    "ModelKind",
    "ParseStatus",
    "Run",
    "StageUnit",
    "Subject",
    "SubjectImage",
    "UnitState",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
AutoId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ParseStatus(enum.StrEnum):
    """Where a classification is in parsing."""

    OK = "ok"
    """Parsed into a volunteer model."""
    ERROR = "error"
    """Could not be parsed; ``parse_error`` says why. Kept, never retried automatically."""
    WAITING = "waiting"
    """The subject's image has not arrived; parsed automatically when it does."""


class ModelKind(enum.StrEnum):
    """What produced a model."""

    VOLUNTEER = "volunteer"
    AGGREGATE = "aggregate"
    BEST_INDIVIDUAL = "best_individual"
    TUNED = "tuned"


class UnitState(enum.StrEnum):
    """Where one (stage, subject) unit of work is."""

    PENDING = "pending"
    """Due: never run, or its inputs or parameters changed."""
    RUNNING = "running"
    """Claimed by a worker until ``lease_expires_at``; reclaimed after that."""
    DONE = "done"
    """Outputs stored for ``params_hash`` and ``input_hash``."""
    FAILED = "failed"
    """Compute raised; ``error`` says why. Retried only with ``--force`` or new inputs."""


class Subject(Base):
    """A Zooniverse subject: one galaxy cutout shown to volunteers."""

    __tablename__ = "subjects"

    subject_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    project_id: Mapped[int | None] = mapped_column(BigInteger)
    subject_set_id: Mapped[int | None] = mapped_column(BigInteger)
    workflow_id: Mapped[int | None] = mapped_column(BigInteger)
    ra_deg: Mapped[float | None] = mapped_column(Float, doc="J2000 right ascension, degrees")
    dec_deg: Mapped[float | None] = mapped_column(Float, doc="J2000 declination, degrees")
    dr7objid: Mapped[int | None] = mapped_column(BigInteger, index=True, doc="SDSS DR7 objid")
    nsa_id: Mapped[int | None] = mapped_column(BigInteger, index=True, doc="NASA-Sloan Atlas id")
    redshift: Mapped[float | None] = mapped_column(Float)
    petrosian_radius_arcsec: Mapped[float | None] = mapped_column(
        Float, doc="the metadata's 'Petrosian radius (degrees)', which is in arcseconds"
    )
    metadata_json: Mapped[str | None] = mapped_column("metadata", Text, doc="raw metadata JSON")
    locations: Mapped[str | None] = mapped_column(Text, doc="raw locations JSON")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SubjectImage(Base):
    """The fit target of a subject: cutout, σ, mask (True = excluded) and PSF, as ``.npy``."""

    __tablename__ = "subject_images"

    subject_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("subjects.subject_id", ondelete="CASCADE"), primary_key=True
    )
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    canvas_width: Mapped[int] = mapped_column(Integer)
    canvas_height: Mapped[int] = mapped_column(Integer)
    image: Mapped[bytes] = mapped_column(LargeBinary)
    sigma: Mapped[bytes] = mapped_column(LargeBinary)
    mask: Mapped[bytes] = mapped_column(LargeBinary)
    psf: Mapped[bytes] = mapped_column(LargeBinary)
    sigma_source: Mapped[str] = mapped_column(String(16), doc="'given' or 'estimated'")
    multiplier: Mapped[float] = mapped_column(Float, default=1.0)
    rotation_correction: Mapped[float] = mapped_column(Float, default=0.0, doc="radians")
    source_file: Mapped[str | None] = mapped_column(Text)
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Classification(Base):
    """One volunteer classification, kept verbatim so that parsing can be redone."""

    __tablename__ = "classifications"

    classification_id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=False
    )
    subject_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("subjects.subject_id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    user_name: Mapped[str | None] = mapped_column(Text)
    workflow_id: Mapped[int | None] = mapped_column(BigInteger)
    workflow_version: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    annotations: Mapped[str] = mapped_column(Text)
    subject_data: Mapped[str | None] = mapped_column(Text)
    metadata_json: Mapped[str | None] = mapped_column("metadata", Text)
    parse_status: Mapped[str] = mapped_column(String(16), index=True)
    parse_error: Mapped[str | None] = mapped_column(Text)
    parse_method: Mapped[str | None] = mapped_column(String(16))
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    source_file: Mapped[str | None] = mapped_column(Text, doc="export the row was read from")
    source_row: Mapped[int | None] = mapped_column(Integer, doc="1-based data row in it")
    content_sha256: Mapped[str | None] = mapped_column(
        String(64), doc="SHA-256 of subject, user, workflow version, time and annotations"
    )


class Model(Base):
    """A galaxy model of any kind; its parts are rows of ``components`` and ``arms``."""

    __tablename__ = "models"
    __table_args__ = (Index(None, "subject_id", "kind"),)

    model_id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    subject_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("subjects.subject_id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16))
    classification_id: Mapped[int | None] = mapped_column(
        BigInteger,
        ForeignKey("classifications.classification_id", ondelete="CASCADE"),
        index=True,
    )
    source_model_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("models.model_id", ondelete="SET NULL")
    )
    run_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("runs.run_id", ondelete="SET NULL")
    )
    method: Mapped[str | None] = mapped_column(String(16), doc="'corrected' or 'reference'")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Component(Base):
    """A Sérsic component of a model, in the image frame (DESIGN §6), with 1σ errors."""

    __tablename__ = "components"

    model_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("models.model_id", ondelete="CASCADE"), primary_key=True
    )
    component: Mapped[str] = mapped_column(String(8), primary_key=True)
    mux: Mapped[float] = mapped_column(Float, doc="centre column, px")
    muy: Mapped[float] = mapped_column(Float, doc="centre row, px")
    roll: Mapped[float] = mapped_column(Float, doc="major-axis angle, rad in [0, π)")
    re: Mapped[float] = mapped_column(Float, doc="effective radius along the major axis, px")
    q: Mapped[float] = mapped_column(Float, doc="axis ratio minor/major")
    intensity: Mapped[float] = mapped_column(Float, doc="surface brightness at re")
    n: Mapped[float] = mapped_column(Float, doc="Sérsic index")
    c: Mapped[float] = mapped_column(Float, doc="boxiness (2 = ellipse)")
    mux_err: Mapped[float | None] = mapped_column(Float)
    muy_err: Mapped[float | None] = mapped_column(Float)
    roll_err: Mapped[float | None] = mapped_column(Float)
    re_err: Mapped[float | None] = mapped_column(Float)
    q_err: Mapped[float | None] = mapped_column(Float)
    intensity_err: Mapped[float | None] = mapped_column(Float)
    n_err: Mapped[float | None] = mapped_column(Float)
    c_err: Mapped[float | None] = mapped_column(Float)
    error_flags: Mapped[str | None] = mapped_column(
        Text, doc="why an error is NULL: 'param:flag' pairs, comma-separated"
    )
    mux_scatter: Mapped[float | None] = mapped_column(Float)
    muy_scatter: Mapped[float | None] = mapped_column(Float)
    roll_scatter: Mapped[float | None] = mapped_column(Float)
    re_scatter: Mapped[float | None] = mapped_column(Float)
    q_scatter: Mapped[float | None] = mapped_column(Float)
    intensity_scatter: Mapped[float | None] = mapped_column(Float)
    n_scatter: Mapped[float | None] = mapped_column(Float)
    c_scatter: Mapped[float | None] = mapped_column(Float)
    bootstrap_found: Mapped[int | None] = mapped_column(
        Integer, doc="aggregate: resamples of the volunteers in which this part was found"
    )
    bootstrap_resamples: Mapped[int | None] = mapped_column(Integer)


class Arm(Base):
    """A spiral arm of a model: its poly-line and, for fitted arms, its log spiral."""

    __tablename__ = "arms"

    model_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("models.model_id", ondelete="CASCADE"), primary_key=True
    )
    arm_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    points: Mapped[bytes] = mapped_column(LargeBinary, doc="(N, 2) float64 (x, y), image frame")
    intensity: Mapped[float] = mapped_column(Float)
    spread: Mapped[float] = mapped_column(Float, doc="Gaussian width across the arm, px")
    falloff: Mapped[float] = mapped_column(Float)
    a: Mapped[float | None] = mapped_column(Float, doc="log-spiral scale, px")
    pitch_angle_deg: Mapped[float | None] = mapped_column(Float, doc="magnitude, degrees")
    pitch_angle_err_deg: Mapped[float | None] = mapped_column(Float)
    chirality: Mapped[int | None] = mapped_column(SmallInteger, doc="+1 or -1")
    t_min: Mapped[float | None] = mapped_column(Float, doc="rad")
    t_max: Mapped[float | None] = mapped_column(Float, doc="rad")
    length_px: Mapped[float | None] = mapped_column(Float)
    r_squared: Mapped[float | None] = mapped_column(Float)
    n_members: Mapped[int | None] = mapped_column(Integer)
    pitch_angle_err_flag: Mapped[str | None] = mapped_column(
        String(16), doc="why pitch_angle_err_deg is NULL"
    )
    pitch_angle_scatter_deg: Mapped[float | None] = mapped_column(
        Float, doc="aggregate: spread of the members' pitch angles"
    )
    bootstrap_found: Mapped[int | None] = mapped_column(
        Integer, doc="aggregate: resamples of the volunteers in which this arm was found"
    )
    bootstrap_resamples: Mapped[int | None] = mapped_column(Integer)


class ClusterMember(Base):
    """Which volunteer models an aggregate part was built from."""

    __tablename__ = "cluster_members"

    model_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("models.model_id", ondelete="CASCADE"), primary_key=True
    )
    part: Mapped[str] = mapped_column(String(16), primary_key=True, doc="disk, bulge, bar, arm:<i>")
    member_model_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("models.model_id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Fit(Base):
    """The outcome of tuning one model against its image."""

    __tablename__ = "fits"

    model_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("models.model_id", ondelete="CASCADE"), primary_key=True
    )
    chi2: Mapped[float | None] = mapped_column(Float)
    chi2_nu: Mapped[float | None] = mapped_column(Float)
    n_pixels: Mapped[int | None] = mapped_column(Integer)
    loss: Mapped[float | None] = mapped_column(Float)
    n_iterations: Mapped[int | None] = mapped_column(Integer)
    converged: Mapped[bool | None] = mapped_column(Boolean)
    seconds: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str | None] = mapped_column(Text)
    bulge_fraction: Mapped[float | None] = mapped_column(Float)
    bar_fraction: Mapped[float | None] = mapped_column(Float)
    spiral_fraction: Mapped[float | None] = mapped_column(Float)
    flux: Mapped[float | None] = mapped_column(Float, doc="nanomaggies")
    magnitude: Mapped[float | None] = mapped_column(Float, doc="Pogson, zero point 22.5")
    bulge_fraction_err: Mapped[float | None] = mapped_column(Float)
    bar_fraction_err: Mapped[float | None] = mapped_column(Float)
    spiral_fraction_err: Mapped[float | None] = mapped_column(Float)
    flux_err: Mapped[float | None] = mapped_column(Float)
    magnitude_err: Mapped[float | None] = mapped_column(Float)
    error_flags: Mapped[str | None] = mapped_column(
        Text, doc="why a derived error is NULL: 'quantity:flag' pairs, comma-separated"
    )
    error_scale: Mapped[float | None] = mapped_column(
        Float, doc="factor the model's errors were multiplied by: sqrt(chi2_nu) if > 1, else 1"
    )
    hessian_positive_definite: Mapped[bool | None] = mapped_column(Boolean)
    error_seconds: Mapped[float | None] = mapped_column(Float)


class Run(Base):
    """One invocation of a stage or an ingest: its parameters, code version, host and process.

    ``finished_at`` stays NULL for a run whose process was killed; ``gzbcat status`` tells
    such a run by its process being gone (same host) or its heartbeat being stale.
    """

    __tablename__ = "runs"

    run_id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    stage: Mapped[str] = mapped_column(String(32))
    params: Mapped[str] = mapped_column(Text, doc="JSON")
    params_hash: Mapped[str] = mapped_column(String(64))
    code_version: Mapped[str] = mapped_column(String(32))
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer, doc="process id on host")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), doc="heartbeat of a running stage (about once a minute)"
    )
    units_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    units_failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class StageUnit(Base):
    """One (stage, subject) unit of work and where it is (see :class:`UnitState`)."""

    __tablename__ = "stage_units"
    __table_args__ = (Index(None, "stage", "state"),)

    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("subjects.subject_id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(16))
    params_hash: Mapped[str | None] = mapped_column(String(64))
    input_hash: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(
        Integer,
        default=0,
        doc="computes started since the unit last became due (a unit whose process keeps "
        "dying is failed after --max-attempts)",
    )
    worker: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seconds: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ExternalTable(Base):
    """An imported survey table; its rows live in ``ext_<name>``."""

    __tablename__ = "external_tables"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_file: Mapped[str] = mapped_column(Text)
    n_rows: Mapped[int] = mapped_column(BigInteger)
    ra_column: Mapped[str | None] = mapped_column(String(128))
    dec_column: Mapped[str | None] = mapped_column(String(128))
    key_columns: Mapped[str | None] = mapped_column(Text, doc="JSON list")
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Crossmatch(Base):
    """A sky match between a subject and a row of an external table."""

    __tablename__ = "crossmatches"

    subject_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("subjects.subject_id", ondelete="CASCADE"), primary_key=True
    )
    table_name: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("external_tables.name", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    )
    row_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    separation_arcsec: Mapped[float] = mapped_column(Float)


class IngestError(Base):
    """A row or file that ingest could not use: recorded, skipped, and reported by status."""

    __tablename__ = "ingest_errors"

    error_id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32), doc="'subjects', 'fitting-metadata', ...")
    source_file: Mapped[str] = mapped_column(Text)
    row_number: Mapped[int | None] = mapped_column(Integer, doc="1-based data row in the file")
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
