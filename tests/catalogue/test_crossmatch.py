"""Sky cross-match of the 50 real subjects against Hart et al. (2017), both backends.

The subjects were drawn from that sample, so each must match the row with its own dr7objid;
the subject metadata and the table agree on positions to about 0.02″ (checked below to
0.03″, the rounding of six-decimal degrees being 0.0036″ per coordinate).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from gzbcat.catalogue.crossmatch import CrossmatchError, crossmatch
from gzbcat.catalogue.external import import_table
from gzbcat.cli.catalogue import parse_radius_arcsec
from gzbcat.stages.ingest import ingest_subjects


def pairs(engine: Engine) -> list[tuple]:
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT x.subject_id, x.row_key, s.dr7objid, x.separation_arcsec "
                "FROM crossmatches AS x JOIN subjects AS s ON s.subject_id = x.subject_id "
                "WHERE x.table_name = 'hart2017' ORDER BY x.subject_id"
            )
        ).all()


def test_all_fifty_ingested_subjects_match_their_own_row(
    engine: Engine, galaxy_builder_dir: Path, hart_csv: Path
) -> None:
    ingest_subjects(engine, galaxy_builder_dir / "subjects.csv", galaxy_builder_dir)
    import_table(engine, hart_csv, "hart2017", ra="ra", dec="dec", keys=["dr7objid"])
    summary = crossmatch(engine, "hart2017", 2.0)
    assert (summary.n_subjects, summary.n_matched, summary.n_unmatched) == (50, 50, 0)
    assert summary.n_pairs == 50 and summary.n_table_rows == 6222
    found = pairs(engine)
    assert len(found) == 50
    for _subject, row_key, dr7objid, separation in found:
        assert row_key == str(dr7objid)
        assert 0 <= separation < 0.03
    assert summary.max_separation_arcsec == pytest.approx(max(p[3] for p in found))


def test_all_mode_radius_and_rerun_replace(
    engine: Engine, subjects: list[int], hart_csv: Path
) -> None:
    import_table(engine, hart_csv, "hart2017", ra="ra", dec="dec")  # no key: row_index
    summary = crossmatch(engine, "hart2017", 2.0, all_matches=True)
    assert summary.n_matched == 50
    assert all(key.isdigit() and int(key) < 6222 for _, key, _, _ in pairs(engine))
    # Hart's galaxies are arcminutes apart: a 1-degree search finds several per subject.
    wide = crossmatch(engine, "hart2017", 3600.0, all_matches=True)
    assert wide.n_pairs > 50 and len(pairs(engine)) == wide.n_pairs
    # Some metadata positions equal the table's to the last digit; most differ by ~0.01″.
    tiny = crossmatch(engine, "hart2017", 1e-6)
    assert tiny.n_matched < 50 and tiny.n_matched + tiny.n_unmatched == 50
    assert len(pairs(engine)) == tiny.n_pairs == tiny.n_matched
    assert all(p[3] <= 1e-6 for p in pairs(engine))


def test_errors(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(CrossmatchError, match="no external table 'nothing'"):
        crossmatch(engine, "nothing", 2.0)
    path = tmp_path / "t.csv"
    path.write_text("id,x\n1,2\n")
    import_table(engine, path, "nopos", keys=["id"])
    with pytest.raises(CrossmatchError, match="no position columns"):
        crossmatch(engine, "nopos", 2.0)
    with pytest.raises(CrossmatchError, match="positive"):
        crossmatch(engine, "nopos", 0.0)


@pytest.mark.parametrize(
    ("text_radius", "arcsec"),
    [("2arcsec", 2.0), ("2 arcsec", 2.0), ("0.5arcmin", 30.0), ("1e-3deg", 3.6), ("1.5", 1.5)],
)
def test_radius_parsing(text_radius: str, arcsec: float) -> None:
    assert parse_radius_arcsec(text_radius) == pytest.approx(arcsec)


@pytest.mark.parametrize("bad", ["2kg", "two arcsec", ""])
def test_bad_radius(bad: str) -> None:
    with pytest.raises(ValueError, match="--radius"):
        parse_radius_arcsec(bad)
