"""Simulated galaxies that take their real galaxy's pitch angle from Hart et al. (2017).

The arms of one galaxy scatter about its pitch by 1.5° (1σ) within 5°–40°, so the mean over a
galaxy's arms lies within 4σ (6°) of the reference once that is clipped into the range.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from gzbcat.cli.simulate import register
from gzbcat.model import GalaxyModel
from gzbcat.simulate import (
    PITCH_RANGE_DEG,
    HartTableError,
    hart_pitch_deg,
    make_galaxy,
    read_hart_pitches,
    simulate,
)

HEADER = "dr7objid,ra,dec,psi_sparcfire,psi_gz2\n"


def _hart_csv(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "hart.csv"
    path.write_text(HEADER + body)
    return path


def test_hart_pitch_prefers_sparcfire_then_gz2() -> None:
    assert hart_pitch_deg(21.5, 18.0) == (21.5, "psi_sparcfire")
    assert hart_pitch_deg(None, 18.0) == (18.0, "psi_gz2")
    assert hart_pitch_deg(-12.0, None) == (12.0, "psi_sparcfire")  # a magnitude
    assert hart_pitch_deg(None, None) == (None, None)


def test_reading_the_table_skips_missing_values(tmp_path: Path) -> None:
    path = _hart_csv(
        tmp_path,
        "1,10.0,0.0,21.5,18.0\n2,10.0,0.0,-999.0,17.0\n3,10.0,0.0,-999.0,-999.0\n",
    )
    pitches = read_hart_pitches(path)
    assert sorted(pitches) == [1, 2]
    assert (pitches[1].pitch_angle_deg, pitches[1].column) == (21.5, "psi_sparcfire")
    assert (pitches[2].pitch_angle_deg, pitches[2].column) == (17.0, "psi_gz2")


def test_a_bad_table_names_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(HartTableError, match=r"hart.csv, line 3"):
        read_hart_pitches(_hart_csv(tmp_path, "1,1,1,20,18\n2,1,1,twenty,18\n"))
    (tmp_path / "short.csv").write_text("dr7objid,psi_gz2\n1,18\n")
    with pytest.raises(HartTableError, match="no column psi_sparcfire"):
        read_hart_pitches(tmp_path / "short.csv")
    with pytest.raises(HartTableError, match="cannot be read"):
        read_hart_pitches(tmp_path / "missing.csv")


def test_a_given_pitch_changes_only_the_arms() -> None:
    for seed in range(40):
        drawn = make_galaxy(np.random.default_rng(seed), (120, 120))
        given = make_galaxy(np.random.default_rng(seed), (120, 120), pitch_deg=-33.0)
        assert (drawn.disk, drawn.bulge, drawn.bar) == (given.disk, given.bulge, given.bar)
        assert len(drawn.arms) == len(given.arms)
        for arm in given.arms:
            assert arm.fit is not None
            assert abs(arm.fit.pitch_angle_deg - 33.0) <= 6.0


def _truth(folder: Path) -> dict:
    return json.loads((folder / "truth.json").read_text())["subjects"]


def test_simulated_galaxies_take_their_real_galaxys_pitch(
    tmp_path: Path, galaxy_builder_dir: Path, shared_data: Path
) -> None:
    table = shared_data / "external" / "hart2017-gz2-sparcfire.csv"
    hart = read_hart_pitches(table)
    summary = simulate(
        tmp_path / "hart",
        galaxies=8,
        volunteers=2,
        seed=4,
        like=galaxy_builder_dir,
        hart_table=table,
    )
    simulate(tmp_path / "random", galaxies=8, volunteers=2, seed=4, like=galaxy_builder_dir)
    with_hart, without = _truth(tmp_path / "hart"), _truth(tmp_path / "random")
    assert summary.n_hart_pitches == 8
    assert json.loads((tmp_path / "hart" / "truth.json").read_text())["pitch_table"] == table.name
    # the first galaxy has the same shape but for its arms' pitch (its brightness units follow
    # the image's peak, and the volunteers' draws that follow depend on the arms' shapes, so
    # later galaxies differ)
    first = min(with_hart)
    model, plain = (GalaxyModel.from_dict(t[first]["model"]) for t in (with_hart, without))
    assert model.disk is not None and plain.disk is not None
    shape = ("mux", "muy", "roll", "re", "q")
    assert [getattr(model.disk, p) for p in shape] == [getattr(plain.disk, p) for p in shape]
    assert (model.bulge is None, model.bar is None) == (plain.bulge is None, plain.bar is None)
    assert len(model.arms) == len(plain.arms) > 0
    n_armed = 0
    for key, entry in with_hart.items():
        reference = entry["pitch_reference"]
        assert hart[reference["dr7objid"]].pitch_angle_deg == reference["pitch_angle_deg"]
        model = GalaxyModel.from_dict(entry["model"])
        if model.arms:
            n_armed += 1
            expected = float(np.clip(reference["pitch_angle_deg"], *PITCH_RANGE_DEG))
            pitches = [arm.fit.pitch_angle_deg for arm in model.arms if arm.fit is not None]
            assert abs(float(np.mean(pitches)) - expected) <= 6.0
        assert "pitch_reference" not in without[key]
    assert n_armed >= 4
    assert "pitch_table" not in json.loads((tmp_path / "random" / "truth.json").read_text())


def test_a_galaxy_without_a_row_keeps_a_random_pitch(
    tmp_path: Path, galaxy_builder_dir: Path
) -> None:
    table = _hart_csv(tmp_path, "1,10.0,0.0,21.5,18.0\n")  # none of the real subjects
    summary = simulate(
        tmp_path / "out",
        galaxies=2,
        volunteers=2,
        seed=1,
        like=galaxy_builder_dir,
        hart_table=table,
    )
    assert summary.n_hart_pitches == 0
    assert all("pitch_reference" not in e for e in _truth(tmp_path / "out").values())


def test_the_cli_passes_the_hart_table_on(tmp_path: Path, galaxy_builder_dir: Path) -> None:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Dummy callback so that ``simulate`` stays a sub-command."""

    register(app)
    table = _hart_csv(tmp_path, "587741421632356667,118.68,14.61,-999,17.5\n")  # 20901989
    args = ["simulate", str(tmp_path / "out"), "--galaxies", "2", "--volunteers", "2"]
    like = ["--like", str(galaxy_builder_dir)]
    result = CliRunner().invoke(app, [*args, *like, "--hart-table", str(table)])
    assert result.exit_code == 0, result.output
    assert "pitch angles: 1 of 2 galaxies from hart.csv" in result.output
    first = _truth(tmp_path / "out")["80000001"]["pitch_reference"]
    assert first == {"dr7objid": 587741421632356667, "pitch_angle_deg": 17.5, "column": "psi_gz2"}
    bad = CliRunner().invoke(app, [*args, "--hart-table", str(tmp_path / "none.csv")])
    assert bad.exit_code == 2
    assert "none.csv: cannot be read" in bad.output
