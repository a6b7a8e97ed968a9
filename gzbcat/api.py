"""The Python entry point for notebooks: open a catalogue, read it, query it, look at models.

>>> import gzbcat
>>> with gzbcat.open_catalogue("sqlite:///gzbcat-demo.sqlite") as cat:  # doctest: +SKIP
...     table = cat.table()                       # astropy Table, units as in the FITS export
...     frame = cat.query("SELECT subject_id, disk_re FROM catalogue WHERE n_arms >= :n", n=2)
...     model = cat.model(frame.subject_id[0], "tuned-aggregate")   # a GalaxyModel
...     image = cat.render(frame.subject_id[0], "tuned-aggregate")  # PSF-convolved, (H, W)
...     ax = cat.plot(frame.subject_id[0], "tuned-aggregate")

Everything here goes through the code the command line uses: the catalogue table is the one
``gzbcat export`` writes (:func:`~gzbcat.catalogue.export.catalogue_table`), queries run in
``gzbcat query``'s read-only sandbox (:func:`~gzbcat.catalogue.query.run_query`), models are
read by :mod:`gzbcat.db.models`, rendered as the tune stage renders them
(:func:`~gzbcat.rendering.render_model` with the subject's PSF and the method's pixel
integration) and drawn by :mod:`gzbcat.plots`. Nothing here writes to the database.

Anything a user can get wrong (a database that is not there, an unknown subject, a model that
has not been computed yet, a refused query) raises :class:`CatalogueError` with a message that
says what to run.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gzbcat.catalogue.export import catalogue_table
from gzbcat.catalogue.query import QueryError, load_statement, run_query
from gzbcat.db import schema
from gzbcat.db.engine import DatabaseOpenError, open_database, session_scope
from gzbcat.db.images import load_subject_image
from gzbcat.db.models import load_models
from gzbcat.model import GalaxyModel, Method, SubjectImage
from gzbcat.rendering import render_model
from gzbcat.settings import database_url
from gzbcat.stages.loaders import model_ids_by_subject, tuned_model_ids

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd
    from astropy.table import Table
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["Catalogue", "CatalogueError", "ModelSource", "open_catalogue"]


class CatalogueError(RuntimeError):
    """Something a user can fix: the message names it and says what to run."""


class ModelSource(enum.StrEnum):
    """Which model of a subject: spelled as the commands that make them are.

    ``best_individual`` (the stored kind) is accepted for ``best-individual``, and ``tuned``
    means ``tuned-aggregate``, the model the catalogue's unprefixed columns describe.
    """

    AGGREGATE = "aggregate"
    BEST_INDIVIDUAL = "best-individual"
    TUNED_AGGREGATE = "tuned-aggregate"
    TUNED_BEST_INDIVIDUAL = "tuned-best-individual"
    VOLUNTEER = "volunteer"

    @classmethod
    def _missing_(cls, value: object) -> ModelSource | None:
        if not isinstance(value, str):
            return None
        spelled = value.strip().lower().replace("_", "-")
        if spelled == "tuned":
            return cls.TUNED_AGGREGATE
        return next((member for member in cls if member.value == spelled), None)

    @property
    def kind(self) -> str:
        """The ``models.kind`` of the model (for tuned ones: of the model they started from)."""
        return _KINDS[self]

    @property
    def command(self) -> str:
        """The command that makes this model."""
        return _COMMANDS[self]


_KINDS = {
    ModelSource.AGGREGATE: schema.ModelKind.AGGREGATE.value,
    ModelSource.BEST_INDIVIDUAL: schema.ModelKind.BEST_INDIVIDUAL.value,
    ModelSource.TUNED_AGGREGATE: schema.ModelKind.AGGREGATE.value,
    ModelSource.TUNED_BEST_INDIVIDUAL: schema.ModelKind.BEST_INDIVIDUAL.value,
    ModelSource.VOLUNTEER: schema.ModelKind.VOLUNTEER.value,
}
_COMMANDS = {
    ModelSource.AGGREGATE: "gzbcat aggregate",
    ModelSource.BEST_INDIVIDUAL: "gzbcat best-individual",
    ModelSource.TUNED_AGGREGATE: "gzbcat tune --source aggregate",
    ModelSource.TUNED_BEST_INDIVIDUAL: "gzbcat tune --source best-individual",
    ModelSource.VOLUNTEER: "gzbcat ingest classifications EXPORT.csv",
}
_STAGES = {
    ModelSource.AGGREGATE: "aggregate",
    ModelSource.BEST_INDIVIDUAL: "best-individual",
    ModelSource.TUNED_AGGREGATE: "tune-aggregate",
    ModelSource.TUNED_BEST_INDIVIDUAL: "tune-best-individual",
}
"""The stage whose unit makes each model (``stage_units.stage``), to report its failure."""


def _source(value: ModelSource | str) -> ModelSource:
    try:
        return ModelSource(value)
    except ValueError:
        choices = ", ".join(member.value for member in ModelSource)
        raise CatalogueError(f"source must be one of {choices}, not {value!r}") from None


@dataclass(frozen=True)
class _Found:
    """A stored model and the method it was made with (the renderer needs it)."""

    model_id: int
    method: Method


def _url(where: str | Path | None) -> str:
    """A database URL from a URL, a path to a SQLite file, or None (``GZBCAT_DATABASE_URL``)."""
    if where is None:
        return database_url()
    if isinstance(where, Path) or "://" not in where:
        return f"sqlite:///{Path(where).expanduser()}"
    return where


def open_catalogue(url: str | Path | None = None) -> Catalogue:
    """Open an existing gzbcat database for reading.

    Parameters
    ----------
    url
        A database URL (``sqlite:///gzbcat.sqlite``, ``postgresql://user@host/gzbcat``), or the
        path of a SQLite file; None: ``$GZBCAT_DATABASE_URL``, else ``sqlite:///gzbcat.sqlite``
        (as the command line).

    Raises
    ------
    CatalogueError
        The URL names no database, the file or server is not there, or the schema is missing
        or stale (the message says to run ``gzbcat init``). A missing SQLite file is never
        created.
    """
    try:
        engine = open_database(_url(url))
    except DatabaseOpenError as error:
        raise CatalogueError(str(error)) from None
    return Catalogue(engine)


class Catalogue:
    """A gzbcat database, for reading from Python; a context manager (or call :meth:`close`).

    Use :func:`open_catalogue` to make one. Subject ids are Zooniverse subject ids; model
    positions and sizes are in the image frame (DESIGN §6: ``x`` the column, ``y`` the row,
    pixels of the subject image).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine: Engine | None = engine

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for anything this class does not offer."""
        if self._engine is None:
            raise CatalogueError("this catalogue is closed: open it again with open_catalogue")
        return self._engine

    def close(self) -> None:
        """Release the database connections (again is harmless)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._engine is None:
            return "<Catalogue (closed)>"
        return f"<Catalogue {self._engine.url.render_as_string(hide_password=True)}>"

    # -- the catalogue ------------------------------------------------------------------------

    def table(self, columns: Sequence[str] | None = None) -> Table:
        """The ``catalogue`` view as an astropy ``Table``: one row per subject, by
        ``subject_id``, with the units, descriptions and header ``meta`` of ``gzbcat export``
        (NULL is masked). ``columns`` picks some columns, in that order."""
        table = catalogue_table(self.engine)
        if columns is None:
            return table
        unknown = [name for name in columns if name not in table.colnames]
        if unknown:
            raise CatalogueError(
                f"the catalogue has no column {', '.join(unknown)} (docs/catalogue.md lists them)"
            )
        return table[list(columns)]

    def dataframe(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """:meth:`table` as a pandas ``DataFrame``, one column per table column.

        Masked integers become pandas' nullable integers (``<NA>``, 64-bit ids stay exact),
        masked floats NaN. ``attrs`` carries the table's ``meta`` and, under ``units`` and
        ``descriptions``, each column's unit (None where dimensionless) and description.
        """
        table = self.table(columns)
        frame = table.to_pandas()
        frame.attrs.update(dict(table.meta))
        frame.attrs["units"] = {
            name: None if table[name].unit is None else str(table[name].unit)
            for name in table.colnames
        }
        frame.attrs["descriptions"] = {name: table[name].description for name in table.colnames}
        return frame

    to_pandas = dataframe

    def query(self, sql: str, /, *, timeout_seconds: float = 60.0, **params: Any) -> pd.DataFrame:
        """Run one read-only SQL statement (or a ``.sql`` file) and return its rows.

        The statement runs exactly as ``gzbcat query`` runs it, in the same read-only
        sandbox, cancelled after ``timeout_seconds`` (0: no limit); ``:name`` placeholders
        take their values from ``params``. Integer columns
        with NULLs become pandas' nullable integers, so 64-bit ids stay exact; NUMERIC values
        become floats.

        Raises
        ------
        CatalogueError
            Several statements, a write attempt, a missing parameter, a timeout or an SQL
            error (the backend's message); nothing is ever changed. The original error is its
            ``__cause__``.
        """
        try:
            result = run_query(
                self.engine, load_statement(sql), params, timeout_seconds=timeout_seconds
            )
        except QueryError as error:
            raise CatalogueError(str(error)) from error
        return _frame(result.columns, result.rows)

    def subjects(self) -> list[int]:
        """Every subject id in the database, ascending."""
        with session_scope(self.engine) as session:
            found = session.scalars(
                select(schema.Subject.subject_id).order_by(schema.Subject.subject_id)
            )
            return [int(subject_id) for subject_id in found]

    # -- one subject ----------------------------------------------------------------------------

    def image(self, subject_id: int) -> SubjectImage:
        """The subject's fit target: ``image`` (the cutout divided by ``multiplier``),
        ``sigma``, ``mask`` (True = excluded) and ``psf``, as the stages use them."""
        with session_scope(self.engine) as session:
            return self._image(session, int(subject_id))

    def model(
        self,
        subject_id: int,
        source: ModelSource | str = ModelSource.TUNED_AGGREGATE,
        *,
        classification_id: int | None = None,
    ) -> GalaxyModel:
        """One stored model of a subject, as the stage that made it stored it.

        Parameters
        ----------
        subject_id
            The Zooniverse subject id.
        source
            ``aggregate``, ``best-individual``, ``tuned-aggregate`` (default; the model of the
            catalogue's unprefixed columns), ``tuned-best-individual`` or ``volunteer``
            (:class:`ModelSource`); the newest of its kind.
        classification_id
            For ``volunteer``: whose drawing (see :meth:`volunteer_models` for all of them).

        Raises
        ------
        CatalogueError
            An unknown subject or source, or a model that has not been made yet (the message
            names the command, and the stage's error if its unit failed).
        """
        subject_id = int(subject_id)
        with session_scope(self.engine) as session:
            found = self._find(session, subject_id, _source(source), classification_id)
            return load_models(session, [found.model_id])[found.model_id]

    def volunteer_models(self, subject_id: int) -> dict[int, GalaxyModel]:
        """Every volunteer's parsed drawing of the subject, by ``classification_id``."""
        subject_id = int(subject_id)
        with session_scope(self.engine) as session:
            self._require_subject(session, subject_id)
            ids = dict(
                session.execute(
                    select(schema.Model.model_id, schema.Model.classification_id)
                    .where(
                        schema.Model.subject_id == subject_id,
                        schema.Model.kind == schema.ModelKind.VOLUNTEER,
                    )
                    .order_by(schema.Model.classification_id)
                ).all()
            )
            models = load_models(session, list(ids))
        return {int(ids[model_id]): models[model_id] for model_id in ids}

    def render(
        self,
        subject_id: int,
        source: ModelSource | str = ModelSource.TUNED_AGGREGATE,
        *,
        classification_id: int | None = None,
        psf: bool = True,
    ) -> np.ndarray:
        """A model of the subject rendered as the tune stage renders it.

        The image has the subject image's shape and units (the cutout divided by
        ``multiplier``), so ``cat.image(id).image - cat.render(id)`` is the fit residual. The
        model is convolved with the subject's PSF (``psf=False``: without it) and integrated
        over pixels as its method (``corrected`` or ``reference``, recorded with the model)
        does in the fit. ``source`` and ``classification_id`` are as :meth:`model`.
        """
        model, image, method = self._model_and_image(subject_id, source, classification_id)
        return render_model(model, image.image.shape, image.psf if psf else None, method=method)

    def plot(
        self,
        subject_id: int,
        source: ModelSource | str = ModelSource.TUNED_AGGREGATE,
        *,
        classification_id: int | None = None,
        ax: Axes | None = None,
        outlines: bool = True,
    ) -> Axes:
        """Draw :meth:`render`'s image with the model's outlines (``outlines=False``: without),
        on the data's display stretch; return the axes (``ax``, or a new figure's:
        ``ax.figure``). ``source`` and ``classification_id`` are as :meth:`model`.

        Needs matplotlib (``pip install 'gzbcat[plot]'``); ImportError says so otherwise.
        """
        from gzbcat.plots import DPI, display_limits, draw_model, require_matplotlib

        require_matplotlib()
        chosen = _source(source)
        model, image, method = self._model_and_image(subject_id, chosen, classification_id)
        rendered = render_model(model, image.image.shape, image.psf, method=method)
        if ax is None:
            from matplotlib.figure import Figure

            ax = Figure(figsize=(5.2, 4.8), dpi=DPI, layout="constrained").subplots()
        who = f" {classification_id}" if chosen is ModelSource.VOLUNTEER else ""
        draw_model(
            ax,
            rendered,
            model,
            limits=display_limits(image),
            title=f"subject {int(subject_id)}: {chosen.value}{who} ⊛ PSF",
            method=method,
            outlines=outlines,
        )
        return ax

    def figure(self, subject_id: int) -> Figure:
        """The subject's four-panel figure of ``gzbcat plot`` (volunteers, aggregate, tuned
        model, residual); needs matplotlib."""
        from gzbcat.catalogue.figures import load_subject_plot_data
        from gzbcat.plots import draw_subject, require_matplotlib

        require_matplotlib()
        subject_id = int(subject_id)
        with session_scope(self.engine) as session:
            self._require_subject(session, subject_id)
            data = load_subject_plot_data(session, subject_id)
        return draw_subject(data)

    # -- lookups ------------------------------------------------------------------------------

    def _model_and_image(
        self, subject_id: int, source: ModelSource | str, classification_id: int | None
    ) -> tuple[GalaxyModel, SubjectImage, Method]:
        subject_id = int(subject_id)
        with session_scope(self.engine) as session:
            found = self._find(session, subject_id, _source(source), classification_id)
            image = self._image(session, subject_id)
            model = load_models(session, [found.model_id])[found.model_id]
        return model, image, found.method

    @staticmethod
    def _require_subject(session: Session, subject_id: int) -> None:
        if session.get(schema.Subject, subject_id) is None:
            raise CatalogueError(
                f"subject {subject_id} is not in the database (gzbcat ingest subjects adds "
                "subjects; Catalogue.subjects() lists those present)"
            )

    def _image(self, session: Session, subject_id: int) -> SubjectImage:
        image = load_subject_image(session, subject_id)
        if image is None:
            self._require_subject(session, subject_id)
            raise CatalogueError(
                f"subject {subject_id} has no image yet: run gzbcat ingest subjects with "
                "--files, or gzbcat ingest fitting-metadata"
            )
        return image

    def _find(
        self,
        session: Session,
        subject_id: int,
        source: ModelSource,
        classification_id: int | None,
    ) -> _Found:
        """The stored model ``source`` names, or a :class:`CatalogueError` saying why not."""
        model_id: int | None
        if source is ModelSource.VOLUNTEER:
            if classification_id is None:
                raise CatalogueError(
                    "a volunteer model is chosen by classification_id=…; "
                    "Catalogue.volunteer_models(subject_id) returns all of them"
                )
            model_id = session.scalar(
                select(schema.Model.model_id).where(
                    schema.Model.subject_id == subject_id,
                    schema.Model.kind == schema.ModelKind.VOLUNTEER,
                    schema.Model.classification_id == int(classification_id),
                )
            )
        elif source in (ModelSource.TUNED_AGGREGATE, ModelSource.TUNED_BEST_INDIVIDUAL):
            model_id = tuned_model_ids(session, subject_id).get(source.kind)
        else:
            ids = model_ids_by_subject(session, source.kind, [subject_id]).get(subject_id, [])
            model_id = ids[-1] if ids else None
        if model_id is None:
            self._require_subject(session, subject_id)
            raise CatalogueError(
                self._missing_model(session, subject_id, source, classification_id)
            )
        method = session.scalar(
            select(schema.Model.method).where(schema.Model.model_id == model_id)
        )
        try:
            parsed = Method(method)
        except ValueError:
            parsed = Method.CORRECTED  # unrecorded: the default, as the figures assume
        return _Found(model_id=int(model_id), method=parsed)

    @staticmethod
    def _missing_model(
        session: Session, subject_id: int, source: ModelSource, classification_id: int | None
    ) -> str:
        """Why the subject has no model of ``source``, and what to run."""
        if source is ModelSource.VOLUNTEER:
            row = session.get(schema.Classification, int(classification_id or 0))
            if row is None or row.subject_id != subject_id:
                return (
                    f"subject {subject_id} has no classification {classification_id} "
                    f"({source.command} loads classifications)"
                )
            reason = f": {row.parse_error}" if row.parse_error else ""
            return (
                f"classification {classification_id} of subject {subject_id} has no model "
                f"(parse status {row.parse_status}{reason})"
            )
        unit = session.get(schema.StageUnit, (_STAGES[source], subject_id))
        if unit is not None and unit.state == schema.UnitState.FAILED:
            return (
                f"the {_STAGES[source]} unit of subject {subject_id} failed ({unit.error}); "
                f"gzbcat status lists failures, {source.command} --retry-failed retries"
            )
        return (
            f"subject {subject_id} has no {source.value} model yet: run {source.command} "
            f"--subjects {subject_id}"
        )


def _frame(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    """A DataFrame of query rows: integer columns with NULLs nullable (exact 64-bit ids),
    NUMERIC as floats; other values as the driver returned them."""
    import pandas as pd

    data: dict[int, Any] = {}
    for index in range(len(columns)):
        values = [row[index] for row in rows]
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, Decimal) for v in present):
            data[index] = np.array([np.nan if v is None else float(v) for v in values])
        elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            nullable = len(present) < len(values)
            data[index] = pd.array(values, dtype="Int64") if nullable else np.array(values)
        else:
            data[index] = values
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(rows)))
    frame.columns = pd.Index(list(columns))
    return frame
