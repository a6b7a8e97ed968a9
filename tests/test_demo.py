"""``gzbcat demo``: end to end on a tiny sample, its database choice, its clean-up and its
pitch-angle comparison with Hart et al. (2017)."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gzbcat.demo
from gzbcat.cli import app
from gzbcat.cli.common import print_summary
from gzbcat.cli.demo import junk_note
from gzbcat.demo import DemoError, pitch_agreement, run_demo
from gzbcat.settings import DEMO_DATABASE_URL
from gzbcat.stages.ingest import IngestSummary


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder that ``tempfile`` uses for this test only, to see what the demo leaves."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _fake_catalogue(path: Path, metadata: list[dict]) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE subjects (subject_id INTEGER PRIMARY KEY, metadata TEXT)")
        db.executemany(
            "INSERT INTO subjects (metadata) VALUES (?)", [(json.dumps(m),) for m in metadata]
        )
    db.close()


def test_demo_runs_every_stage_and_compares_with_the_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_tmp: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GZBCAT_DATABASE_URL", raising=False)
    database = tmp_path / "demo.sqlite"
    _fake_catalogue(database, [{"#isFake": True}])  # a previous demo's: replaced
    result = CliRunner().invoke(
        app,
        [
            "--db",
            f"sqlite:///{database}",
            "demo",
            "--galaxies",
            "3",
            "--volunteers",
            "10",
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    for stage in ("aggregate", "best-individual", "tune-aggregate", "tune-best-individual"):
        assert f"{stage}: 3 done, 0 failed" in result.output
    assert "Truth against results" in result.output
    assert "cross-matched 3 of 3 subjects" in result.output
    assert "3 of 3 galaxies took the spiral pitch angle of their real galaxy" in result.output
    assert "Pitch angle, catalogue vs Hart et al. (2017)" in result.output
    assert "the values the simulated arms were drawn from" in result.output
    assert "galaxies with arms; median |difference|" in result.output
    assert "removed at the end" in result.output
    assert (tmp_path / "demo-output" / "catalogue.fits").is_file()
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM subjects").fetchone() == (3,)
    db.close()
    assert list(private_tmp.iterdir()) == []  # the sample went with the demo


def test_an_interrupted_demo_removes_its_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_tmp: Path
) -> None:
    monkeypatch.chdir(tmp_path)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(gzbcat.demo, "run_stage", interrupted)
    args = ["demo", "--db", f"sqlite:///{tmp_path / 'd.sqlite'}", "--galaxies", "1"]
    result = CliRunner().invoke(app, [*args, "--volunteers", "3"])
    assert result.exit_code == 130, result.output
    assert "interrupted; its sample was removed" in result.output
    assert list(private_tmp.iterdir()) == []
    kept = CliRunner().invoke(app, [*args, "--volunteers", "3", "--keep-sample", "sample"])
    assert kept.exit_code == 130, kept.output
    assert "the sample stays in sample" in kept.output
    assert (tmp_path / "sample" / "truth.json").is_file()
    assert list(private_tmp.iterdir()) == []


@pytest.mark.parametrize(
    ("before", "after", "env", "expected", "named_by"),
    [
        ([], [], None, DEMO_DATABASE_URL, None),
        (["--db", "sqlite:///root.sqlite"], [], None, "sqlite:///root.sqlite", "gzbcat --db"),
        ([], [], "sqlite:///env.sqlite", "sqlite:///env.sqlite", "GZBCAT_DATABASE_URL"),
        (
            [],
            ["--db", "sqlite:///own.sqlite"],
            "sqlite:///env.sqlite",
            "sqlite:///own.sqlite",
            None,
        ),
        (
            ["--db", "sqlite:///root.sqlite"],
            ["--db", "sqlite:///own.sqlite"],
            None,
            "sqlite:///own.sqlite",
            "demo --db",
        ),
    ],
)
def test_the_demo_writes_where_db_or_the_environment_say(
    monkeypatch: pytest.MonkeyPatch,
    before: list[str],
    after: list[str],
    env: str | None,
    expected: str,
    named_by: str | None,
) -> None:
    seen: list[str] = []

    def fake_run_demo(db_url: str, **kwargs: object) -> None:
        seen.append(db_url)
        raise DemoError("stopped here")

    monkeypatch.setattr(gzbcat.demo, "run_demo", fake_run_demo)
    monkeypatch.delenv("GZBCAT_DATABASE_URL", raising=False)
    environment = {"GZBCAT_DATABASE_URL": env} if env else {}
    result = CliRunner().invoke(app, [*before, "demo", *after], env=environment)
    assert result.exit_code == 2, result.output
    assert seen == [expected]
    if named_by is not None:
        assert f"(the database is from {named_by})" in result.output


def test_the_demo_refuses_to_replace_a_real_catalogue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "catalogue.sqlite"
    _fake_catalogue(real, [{"#isFake": True}, {"ra": "118.68", "SDSS dr7 id": "1"}])
    before = real.read_bytes()
    with pytest.raises(DemoError, match="holds more than a demo's simulated subjects"):
        run_demo(f"sqlite:///{real}")
    other = tmp_path / "notes.sqlite"
    other.write_text("not a database")
    with pytest.raises(DemoError, match="holds more than"):
        run_demo(f"sqlite:///{other}")
    with pytest.raises(DemoError, match="is not one"):
        run_demo("postgresql+psycopg://localhost/gzbcat")
    with pytest.raises(DemoError, match="no writable folder"):
        run_demo(f"sqlite:///{tmp_path / 'missing' / 'demo.sqlite'}")
    result = CliRunner().invoke(app, ["demo"], env={"GZBCAT_DATABASE_URL": f"sqlite:///{real}"})
    assert result.exit_code == 2
    assert "(the database is from GZBCAT_DATABASE_URL)" in result.output
    assert real.read_bytes() == before
    assert other.read_text() == "not a database"


def test_pitch_agreement_compares_with_the_value_the_simulator_used() -> None:
    rows = [
        # SpArcFiRe's measurement is used where there is one, else the GZ2 estimate
        {"pitch_angle_deg": 10.5, "psi_sparcfire_deg": 10.0, "psi_gz2_deg": 30.0},
        {"pitch_angle_deg": 20.5, "psi_sparcfire_deg": None, "psi_gz2_deg": 20.0},
        {"pitch_angle_deg": 29.0, "psi_sparcfire_deg": 30.0, "psi_gz2_deg": 10.0},
        {"pitch_angle_deg": None, "psi_sparcfire_deg": 12.0, "psi_gz2_deg": 12.0},  # no arms
        {"pitch_angle_deg": 15.0, "psi_sparcfire_deg": None, "psi_gz2_deg": None},  # no Hart
    ]
    agreement = pitch_agreement(rows)
    assert agreement.n == 3
    assert agreement.pearson_r == pytest.approx(0.99891, abs=1e-4)
    assert agreement.median_abs_difference_deg == pytest.approx(0.5)
    assert pitch_agreement(rows[:2]).pearson_r is None  # fewer than three
    # a measurement that does not follow Hart's shows as such
    anti = [dict(r, pitch_angle_deg=40.0 - r["pitch_angle_deg"]) for r in rows[:3]]
    assert pitch_agreement(anti).pearson_r == pytest.approx(-0.99891, abs=1e-4)
    assert pitch_agreement([]).n == 0
    assert pitch_agreement([]).pearson_r is None


def test_the_junk_rows_are_explained_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    summary = IngestSummary(source="classifications.csv")
    summary.rows_read, summary.parse_errors = 360, 5
    print_summary("Ingested", summary, {"parse_errors": junk_note(5, 5)})
    lines = capsys.readouterr().out.splitlines()
    assert (
        "  parse errors: 5 (the simulator's deliberate junk rows, to show they are recorded "
        "and skipped)" in lines
    )
    assert "rows read: 360" in lines[1]
    assert junk_note(7, 5).startswith("5 are the simulator's deliberate junk rows; the others")
