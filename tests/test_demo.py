"""``gzbcat demo`` end to end on a tiny sample: every stage runs and the summary is sane."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gzbcat.cli import app


def test_demo_runs_every_stage_and_compares_with_the_truth(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--db",
            f"sqlite:///{tmp_path / 'demo.sqlite'}",
            "--galaxies",
            "2",
            "--volunteers",
            "10",
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    for stage in ("aggregate", "best-individual", "tune-aggregate", "tune-best-individual"):
        assert f"{stage}: 2 done, 0 failed" in result.output
    assert "Truth against results" in result.output
    assert "cross-matched 2 of 2 subjects" in result.output
    assert (tmp_path / "demo-output" / "catalogue.fits").is_file()
