"""Exports round-trip through astropy with the documented columns, units and provenance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from sqlalchemy import Engine

from gzbcat import __version__
from gzbcat.catalogue.columns import CATALOGUE_COLUMNS, column_names
from gzbcat.catalogue.export import ExportError, ascii_text, export
from tests.catalogue.conftest import add_model

ARMS = [{"pitch_angle_deg": 14.0, "pitch_angle_err_deg": 1.0, "chirality": -1, "length_px": 50.0}]


@pytest.fixture
def modelled(engine: Engine, subjects: list[int]) -> int:
    sid = subjects[0]
    aggregate = add_model(engine, sid, "aggregate", arms=ARMS, method="reference")
    add_model(
        engine, sid, "tuned", source_model_id=aggregate, components={"disk": 10.0},
        fit={"chi2_nu": 1.1, "flux": 100.0, "magnitude": 17.5, "converged": True},
        method="reference", arms=ARMS,
    )  # fmt: skip
    return sid


@pytest.mark.parametrize("suffix", [".fits", ".ecsv", ".csv"])
def test_export_round_trips(
    engine: Engine, subjects: list[int], modelled: int, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"catalogue{suffix}"
    summary = export(engine, out)
    assert (summary.n_rows, summary.n_columns, summary.n_tuned) == (50, len(CATALOGUE_COLUMNS), 1)
    assert summary.method == "reference"
    back = Table.read(out, format="ascii.csv" if suffix == ".csv" else None)
    assert back.colnames == column_names()
    assert sorted(back["subject_id"].tolist()) == sorted(subjects)
    assert back["dr7objid"].dtype.kind == "i" and back["dr7objid"].dtype.itemsize == 8
    row = back[list(back["subject_id"]).index(modelled)]
    assert row["disk_re"] == pytest.approx(13.0)  # base 10 + index of 're' (3)
    assert row["pitch_angle_deg"] == pytest.approx(14.0)
    assert row["chirality_0"] == -1 and row["fit_converged"] == 1
    assert row["dr7objid"] == 587741421632356667  # subjects[0], exact
    others = back[back["subject_id"] != modelled]
    assert np.all(np.ma.getmaskarray(others["tuned_model_id"]))
    assert np.all(np.ma.getmaskarray(others["has_bulge"]))
    if suffix == ".csv":
        return
    for column in CATALOGUE_COLUMNS:
        col = back[column.name]
        if column.unit and not (suffix == ".fits" and column.unit == "nmgy"):
            assert str(col.unit) == column.unit, column.name
        expected = column.description if suffix == ".ecsv" else ascii_text(column.description)
        assert col.description.startswith(expected), column.name
    assert back.meta["GZBCVER"] == __version__
    assert back.meta["METHOD"] == "reference"
    assert back.meta["DATE"][:2] == "20"


def test_fits_header_has_units_descriptions_and_provenance(
    engine: Engine, subjects: list[int], tmp_path: Path
) -> None:
    out = tmp_path / "c.fits"
    export(engine, out)
    header = fits.getheader(out, 1)
    names = column_names()
    i = names.index("disk_re") + 1
    assert header[f"TTYPE{i}"] == "disk_re" and header[f"TUNIT{i}"] == "pix"
    assert header[f"TCOMM{i}"].startswith("disk effective (half-light) radius")
    j = names.index("flux") + 1
    assert f"TUNIT{j}" not in header and "[nmgy]" in header[f"TCOMM{j}"]
    assert header["GZBCVER"] == __version__ and header["METHOD"] == "none"
    assert "DATE" in header


def test_dr7objid_is_exact_in_every_format(
    engine: Engine, subjects: list[int], tmp_path: Path
) -> None:
    for suffix in (".fits", ".ecsv", ".csv"):
        out = tmp_path / f"c{suffix}"
        export(engine, out)
        back = Table.read(out, format="ascii.csv" if suffix == ".csv" else None)
        assert 587741421632356667 in back["dr7objid"].tolist()


def test_unknown_extension(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="unknown output format"):
        export(engine, tmp_path / "c.xlsx")
    with pytest.raises(ExportError, match="does not exist"):
        export(engine, tmp_path / "missing" / "c.fits")
