"""The stage runner on SQLite and PostgreSQL: resumable, exactly-once, safe with many workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from gzbcat.db import schema
from gzbcat.db.engine import session_scope
from gzbcat.stages.runner import run_stage
from gzbcat.stages.status import status
from tests.stages.dummy_stage import STAGE, DummyParams

REPO = Path(__file__).resolve().parents[2]


def add_subjects(engine: Engine, n: int, first: int = 1) -> list[int]:
    ids = list(range(first, first + n))
    with session_scope(engine, write=True) as session:
        session.add_all(schema.Subject(subject_id=i, redshift=0.01) for i in ids)
    return ids


def computed(marker: Path) -> Counter[int]:
    if not marker.exists():
        return Counter()
    return Counter(int(line) for line in marker.read_text().split())


def states(engine: Engine) -> Counter[str]:
    with session_scope(engine) as session:
        return Counter(session.scalars(select(schema.StageUnit.state)))


def outputs_per_subject(engine: Engine) -> Counter[int]:
    with session_scope(engine) as session:
        models = Counter(session.scalars(select(schema.Model.subject_id)))
        components = session.scalar(select(func.count()).select_from(schema.Component))
    assert components == sum(models.values())  # no orphaned or missing output rows
    return models


def test_runs_every_unit_once_and_resumes(engine: Engine, tmp_path: Path) -> None:
    ids = add_subjects(engine, 10)
    marker = tmp_path / "marker"
    summary = run_stage(engine, STAGE, DummyParams(marker=str(marker)))
    assert (summary.due, summary.done, summary.failed) == (10, 10, 0)
    assert computed(marker) == Counter(ids)
    assert states(engine) == {"done": 10}
    again = run_stage(engine, STAGE, DummyParams(marker=str(marker)))
    assert (again.due, again.claimed) == (0, 0)
    assert computed(marker) == Counter(ids)  # nothing recomputed
    assert outputs_per_subject(engine) == Counter(ids)


def test_changed_parameters_or_inputs_make_units_due(engine: Engine, tmp_path: Path):
    ids = add_subjects(engine, 5)
    marker = tmp_path / "marker"
    run_stage(engine, STAGE, DummyParams(marker=str(marker)))
    summary = run_stage(engine, STAGE, DummyParams(marker=str(marker), version=2))
    assert summary.done == 5
    with session_scope(engine, write=True) as session:
        session.execute(
            update(schema.Subject).where(schema.Subject.subject_id == ids[2]).values(redshift=0.2)
        )
    summary = run_stage(engine, STAGE, DummyParams(marker=str(marker), version=2))
    assert (summary.due, summary.done) == (1, 1)
    assert computed(marker)[ids[2]] == 3
    forced = run_stage(engine, STAGE, DummyParams(marker=str(marker), version=2), force=True)
    assert forced.done == 5
    assert outputs_per_subject(engine) == Counter(ids)


def test_subjects_and_limit_restrict(engine: Engine, tmp_path: Path) -> None:
    ids = add_subjects(engine, 6)
    marker = tmp_path / "marker"
    summary = run_stage(engine, STAGE, DummyParams(marker=str(marker)), subjects=ids[:2])
    assert summary.done == 2
    summary = run_stage(engine, STAGE, DummyParams(marker=str(marker)), limit=3)
    assert summary.done == 3
    assert states(engine) == {"done": 5, "pending": 1}


def test_a_failing_unit_is_recorded_and_the_run_goes_on(engine: Engine, tmp_path: Path):
    ids = add_subjects(engine, 4)
    marker = tmp_path / "marker"
    params = DummyParams(marker=str(marker), fail_subjects=(ids[1],))
    summary = run_stage(engine, STAGE, params)
    assert (summary.done, summary.failed) == (3, 1)
    assert "cursed" in summary.failures[0][1]
    counts = status(engine)
    assert counts["stage_units"]["dummy"] == {"done": 3, "failed": 1}
    assert counts["failures"][0]["subject_id"] == ids[1]
    assert "ValueError: subject 2 is cursed" in counts["failures"][0]["error"]
    assert run_stage(engine, STAGE, params).claimed == 0  # not retried by default
    fixed = DummyParams(marker=str(marker))
    assert run_stage(engine, STAGE, fixed).done == 4  # new parameters: everything is due
    assert states(engine) == {"done": 4}


def test_a_fit_error_in_a_worker_process_fails_only_its_unit(engine: Engine, tmp_path: Path):
    ids = add_subjects(engine, 4)
    params = DummyParams(marker=str(tmp_path / "marker"), unfittable_subjects=(ids[2],))
    summary = run_stage(engine, STAGE, params, workers=2)
    assert (summary.done, summary.failed) == (3, 1)
    assert summary.failures[0][0] == ids[2]
    assert "FitError: no_disk: subject 3 has no disk" in summary.failures[0][1]
    assert states(engine) == {"done": 3, "failed": 1}


@pytest.mark.parametrize("workers", [1, 2])
def test_an_exception_the_parent_cannot_rebuild_fails_only_its_unit(
    engine: Engine, tmp_path: Path, workers: int
) -> None:
    ids = add_subjects(engine, 4)
    params = DummyParams(marker=str(tmp_path / "marker"), unrebuildable_subjects=(ids[0],))
    summary = run_stage(engine, STAGE, params, workers=workers)
    assert (summary.done, summary.failed) == (3, 1)
    assert "TwoPartError: broken: subject 1" in summary.failures[0][1]
    assert states(engine) == {"done": 3, "failed": 1}


def test_ctrl_c_hands_in_flight_units_back(engine: Engine, tmp_path: Path) -> None:
    ids = add_subjects(engine, 6)
    marker = tmp_path / "marker"
    seen = []

    def interrupt(_n: int) -> None:
        seen.append(1)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_stage(engine, STAGE, DummyParams(marker=str(marker)), progress=interrupt)
    assert states(engine) == {"done": 2, "pending": 4}
    summary = run_stage(engine, STAGE, DummyParams(marker=str(marker)))
    assert summary.done == 4
    assert outputs_per_subject(engine) == Counter(ids)


def test_an_interrupt_whose_units_cannot_be_handed_back_says_so(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzbcat.stages.runner as runner_module

    add_subjects(engine, 3)

    def interrupt(_n: int) -> None:
        raise KeyboardInterrupt

    def refused(*_args: object) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(runner_module, "_release", refused)
    with pytest.raises(KeyboardInterrupt) as stopped:
        run_stage(engine, STAGE, DummyParams(marker=str(tmp_path / "m")), progress=interrupt)
    assert stopped.value.__notes__ == [f"{runner_module.NOT_HANDED_BACK}: database is locked"]


def test_expired_leases_are_claimed_again(engine: Engine, tmp_path: Path) -> None:
    ids = add_subjects(engine, 3)
    marker = tmp_path / "marker"
    run_stage(engine, STAGE, DummyParams(marker=str(marker)), limit=0)  # queue only
    with session_scope(engine, write=True) as session:
        session.execute(
            update(schema.StageUnit).values(
                state="running",
                worker="elsewhere:1:abc",
                lease_expires_at=datetime.now(UTC) - timedelta(seconds=1),
            )
        )
    summary = run_stage(engine, STAGE, DummyParams(marker=str(marker)))
    assert summary.done == 3
    assert computed(marker) == Counter(ids)


def _worker(
    db_url: str, marker: Path, sleep: float, workers: int = 1, dying: list[int] | None = None
) -> subprocess.Popen:
    """A runner of the dummy stage in another process (``dying``: units that kill it)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.stages.dummy_stage",
            db_url,
            str(marker),
            str(sleep),
            str(workers),
            *([",".join(map(str, dying))] if dying else []),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_a_killed_run_resumes_with_every_unit_done_once(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    ids = add_subjects(engine, 12)
    marker = tmp_path / "marker"
    process = _worker(db_url, marker, sleep=0.3)
    deadline = time.monotonic() + 60
    while sum(computed(marker).values()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert states(engine)["done"] < 12
    (interrupted,) = status(engine)["interrupted_runs"]  # named, with what it finished
    assert interrupted["pid"] == process.pid
    assert interrupted["units_done"] == states(engine)["done"] >= 2
    summary = run_stage(engine, STAGE, DummyParams(marker=str(marker)))
    assert states(engine) == {"done": 12}
    assert set(computed(marker)) == set(ids)
    assert summary.done >= 1
    assert outputs_per_subject(engine) == Counter(ids)  # one output per unit, none orphaned


def test_three_workers_drain_the_queue_computing_each_unit_once(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    ids = add_subjects(engine, 60)
    marker = tmp_path / "marker"
    processes = [_worker(db_url, marker, sleep=0.02) for _ in range(3)]
    for process in processes:
        assert process.wait(timeout=120) == 0
    assert computed(marker) == Counter(ids)  # every unit exactly once
    assert states(engine) == {"done": 60}
    assert outputs_per_subject(engine) == Counter(ids)
    with session_scope(engine) as session:
        runs = session.scalar(select(func.count()).select_from(schema.Run))
    assert runs == 3
