"""The catalogue's part of ``gzbcat demo``: import, cross-match, export, one example query.

The CLI owner's demo calls :func:`run_catalogue_demo` after the stages have run; it returns
what happened for the demo's summary and prints nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from gzbcat.catalogue.crossmatch import CrossmatchSummary, crossmatch
from gzbcat.catalogue.export import ExportSummary, export
from gzbcat.catalogue.external import ImportSummary, import_table
from gzbcat.catalogue.query import QueryResult, load_statement, run_query

__all__ = [
    "HART2017_FILE",
    "HART2017_NAME",
    "CatalogueDemoResult",
    "queries_dir",
    "run_catalogue_demo",
]

HART2017_NAME = "hart2017"
"""The name the example queries expect the Hart et al. (2017) table under."""

HART2017_FILE = Path("external") / "hart2017-gz2-sparcfire.csv"
"""Its path inside the shared data folder."""

EXAMPLE_QUERY = "pitch_angles_vs_hart_et_al_2017.sql"


def queries_dir() -> Path:
    """The documented example queries shipped beside the package (``queries/``)."""
    return Path(__file__).resolve().parents[2] / "queries"


@dataclass
class CatalogueDemoResult:
    """What the catalogue demo did; ``query`` is the example query's result."""

    imported: ImportSummary | None
    crossmatched: CrossmatchSummary | None
    exported: ExportSummary
    query_file: Path | None
    query: QueryResult | None


def run_catalogue_demo(
    engine: Engine, out_dir: Path, shared_data: Path | None = None
) -> CatalogueDemoResult:
    """Import Hart et al. (2017), cross-match within 2″, export FITS, run an example query.

    Parameters
    ----------
    engine
        A database with the subjects ingested (and, where they have run, the stages).
    out_dir
        Where ``catalogue.fits`` goes (created if missing).
    shared_data
        The shared data folder; without it (or without the Hart file) only the export runs.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    imported = crossmatched = None
    query_file = query = None
    hart = shared_data / HART2017_FILE if shared_data is not None else None
    if hart is not None and hart.is_file():
        imported = import_table(
            engine, hart, HART2017_NAME, ra="ra", dec="dec", keys=["dr7objid", "NSAID"]
        )
        crossmatched = crossmatch(engine, HART2017_NAME, 2.0)
        query_file = queries_dir() / EXAMPLE_QUERY
        query = run_query(engine, load_statement(str(query_file)))
    exported = export(engine, out_dir / "catalogue.fits")
    return CatalogueDemoResult(imported, crossmatched, exported, query_file, query)
