"""Bad data at scale, small: the fast version of ``scripts/fuzz_ingest.py`` on both backends."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from gzbcat.settings import shared_data_dir
from tests.conftest import BACKENDS, postgres_base_url

_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fuzz_ingest.py"
_spec = importlib.util.spec_from_file_location("fuzz_ingest", _SCRIPT)
assert _spec is not None and _spec.loader is not None
fuzz_ingest = importlib.util.module_from_spec(_spec)
sys.modules["fuzz_ingest"] = fuzz_ingest  # its dataclasses look their module up
_spec.loader.exec_module(fuzz_ingest)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_kind_of_bad_row_is_recorded_and_changes_nothing_else(
    backend: str, tmp_path: Path
) -> None:
    assert shared_data_dir() is not None  # the simulation borrows real subjects
    base = postgres_base_url() if backend == "postgresql" else None
    lines: list[str] = []
    problems = fuzz_ingest.fuzz(
        tmp_path,
        galaxies=8,
        volunteers=8,
        fraction=0.25,
        seed=3,
        postgres=base,
        stage_subjects=1,
        report=lines.append,
    )
    assert problems == []
    assert f"in {len(fuzz_ingest.KINDS)} ways" in lines[0]
    assert "1 done / 0 failed" in lines[2]


def test_the_corruptions_are_what_they_say(tmp_path: Path) -> None:
    fuzz_ingest.simulate(tmp_path / "s", galaxies=3, volunteers=6, seed=0)
    corruptions = fuzz_ingest.corrupt_export(
        tmp_path / "s" / "classifications.csv",
        tmp_path / "bad.csv",
        tmp_path / "good.csv",
        fraction=1.0,
        seed=0,
    )
    bad = (tmp_path / "bad.csv").read_text()
    good = (tmp_path / "good.csv").read_text()
    assert "NaN" in bad and "Infinity" in bad and "1e+308" in bad
    assert "NaN" not in good and "1e+308" not in good
    assert {c.kind for c in corruptions} >= {"empty_row", "truncated_row", "duplicate_id"}
    assert all(
        c.where in ("parse_error", "ingest_error", "waiting", "accepted") for c in corruptions
    )
