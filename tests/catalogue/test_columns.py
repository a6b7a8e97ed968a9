"""The column list is the one source of the view, the export and docs/catalogue.md."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from sqlalchemy import Engine, inspect, text

from gzbcat.catalogue.columns import CATALOGUE_COLUMNS, column_names, markdown
from gzbcat.catalogue.view import VIEW_NAME, view_sql
from gzbcat.db.engine import head_revision, migrations_dir

ROOT = Path(__file__).resolve().parents[2]


def _head_view_sql() -> str:
    """The view as the newest revision that (re)creates it leaves it."""
    revisions = {}
    for path in sorted((migrations_dir() / "versions").glob("*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        revisions[module.revision] = module
    revision = head_revision()
    while revision is not None:
        module = revisions[revision]
        if hasattr(module, "CATALOGUE_VIEW_SQL"):
            return module.CATALOGUE_VIEW_SQL
        revision = module.down_revision
    raise AssertionError("no revision creates the catalogue view")


def test_docs_are_generated_from_the_column_list() -> None:
    committed = (ROOT / "docs" / "catalogue.md").read_text(encoding="utf-8")
    assert committed == markdown(), (
        "docs/catalogue.md is stale: python -m gzbcat.catalogue.columns > docs/catalogue.md"
    )
    for column in CATALOGUE_COLUMNS:
        assert f"| `{column.name}` |" in committed


def test_head_revision_creates_the_view_the_column_list_describes() -> None:
    assert _head_view_sql().strip() == view_sql().strip(), (
        "the view SQL changed: add a revision that recreates it (python -m gzbcat.catalogue.view)"
    )


def test_names_are_unique_snake_case_and_carry_issue_names() -> None:
    names = column_names()
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in names)
    assert names[:4] == ["subject_id", "subject_set_id", "dr7objid", "nsa_id"]
    for name in [
        "ra_deg", "dec_deg", "n_classifications", "disk_re", "disk_re_err", "disk_q",
        "disk_roll", "bulge_n", "bar_c_err", "bulge_fraction", "bar_fraction",
        "spiral_fraction", "flux", "magnitude", "chi2_nu", "n_arms", "pitch_angle_deg",
        "pitch_angle_err_deg", "pitch_angle_0_deg", "chirality_3", "has_bulge", "has_bar",
        "fit_converged", "bi_disk_re", "bi_pitch_angle_deg", "bi_fit_converged",
    ]:  # fmt: skip
        assert name in names, name
    units = {c.name: c.unit for c in CATALOGUE_COLUMNS}
    assert units["disk_re"] == "pix" and units["disk_roll"] == "rad"
    assert units["pitch_angle_deg"] == "deg" and units["magnitude"] == "mag"
    assert all(c.unit == "deg" for c in CATALOGUE_COLUMNS if c.name.endswith("_deg"))
    assert all(c.description for c in CATALOGUE_COLUMNS)


def test_migrated_view_has_exactly_these_columns(engine: Engine) -> None:
    assert VIEW_NAME in inspect(engine).get_view_names()
    assert VIEW_NAME not in inspect(engine).get_table_names()
    with engine.connect() as connection:
        result = connection.execute(text(f"SELECT * FROM {VIEW_NAME}"))
        assert list(result.keys()) == column_names()
        assert result.all() == []


def test_sqlite_has_sqrt_for_the_pitch_angle_error(engine: Engine) -> None:
    """The view's error column needs SQRT; SQLite ≥ 3.35 with math functions provides it."""
    with engine.connect() as connection:
        assert connection.execute(text("SELECT SQRT(6.25)")).scalar() == 2.5
