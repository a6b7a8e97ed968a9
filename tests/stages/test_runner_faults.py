"""The runner under faults: dying workers, leases shorter than a unit, a lost database, killed
runs; on SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text, update
from typer.testing import CliRunner

from gzbcat.cli import app
from gzbcat.cli.status import format_status
from gzbcat.db import schema
from gzbcat.db.engine import make_engine, session_scope
from gzbcat.stages.runner import DatabaseUnavailableError, RunSummary, run_stage
from gzbcat.stages.status import status
from tests.stages.dummy_stage import STAGE, DummyParams
from tests.stages.test_runner import (
    _worker,
    add_subjects,
    computed,
    outputs_per_subject,
    states,
)


def unit_rows(engine: Engine) -> dict[int, Any]:
    with session_scope(engine) as session:
        rows = session.execute(select(schema.StageUnit))
        return {row.subject_id: row for (row,) in rows}


def run_rows(engine: Engine) -> dict[int, Any]:
    with session_scope(engine) as session:
        return {run.run_id: run for (run,) in session.execute(select(schema.Run))}


# --- a worker process that dies --------------------------------------------------------------


def test_a_worker_that_kills_itself_fails_only_its_own_unit(engine: Engine, tmp_path: Path):
    ids = add_subjects(engine, 6)
    killer = ids[2]
    marker = tmp_path / "marker"
    params = DummyParams(marker=str(marker), sleep_seconds=0.05, dying_subjects=(killer,))
    summary = run_stage(engine, STAGE, params, workers=2, max_attempts=2)
    innocent = [i for i in ids if i != killer]
    assert (summary.done, summary.failed, summary.lost) == (5, 1, 0)
    assert summary.failures == [(killer, "worker process died (signal 9, SIGKILL) on 2 attempts")]
    assert states(engine) == {"done": 5, "failed": 1}
    rows = unit_rows(engine)
    assert rows[killer].attempts == 2
    assert "worker process died (signal 9, SIGKILL)" in rows[killer].error
    # Innocent units in flight when the pool broke were computed again; none was stored twice.
    assert set(computed(marker)) == set(innocent)
    assert outputs_per_subject(engine) == Counter(innocent)
    # The first death took the pool down with several units in flight; then it died alone.
    died = (tmp_path / f"marker.died-{killer}").read_text().split()
    assert len(died) == summary.worker_deaths >= 2
    assert run_rows(engine)[summary.run_id].units_failed == 1


def test_a_worker_that_dies_once_is_retried_and_its_unit_done(engine: Engine, tmp_path: Path):
    ids = add_subjects(engine, 5)
    marker = tmp_path / "marker"
    params = DummyParams(marker=str(marker), dying_subjects=(ids[0], ids[3]), dies_once=True)
    summary = run_stage(engine, STAGE, params, workers=2)
    assert (summary.done, summary.failed) == (5, 0)
    assert summary.worker_deaths >= 1
    assert states(engine) == {"done": 5}
    assert set(computed(marker)) == set(ids)
    assert outputs_per_subject(engine) == Counter(ids)
    assert run_rows(engine)[summary.run_id].units_done == 5


def test_a_unit_lost_on_too_many_attempts_is_failed_not_tried_again(
    engine: Engine, tmp_path: Path
) -> None:
    ids = add_subjects(engine, 3)
    marker = tmp_path / "marker"
    params = DummyParams(marker=str(marker))
    run_stage(engine, STAGE, params, limit=0)  # queue only
    with session_scope(engine, write=True) as session:
        session.execute(
            update(schema.StageUnit)
            .where(schema.StageUnit.subject_id == ids[1])
            .values(
                state="running",
                worker="elsewhere:1:abc",
                attempts=3,
                lease_expires_at=datetime.now(UTC) - timedelta(seconds=1),
            )
        )
    summary = run_stage(engine, STAGE, params, max_attempts=3)
    assert (summary.done, summary.failed) == (2, 1)
    assert summary.failures[0][0] == ids[1]
    assert "lost on 3 attempts" in summary.failures[0][1]
    assert computed(marker) == Counter([ids[0], ids[2]])
    assert run_rows(engine)[summary.run_id].units_failed == 1
    # --retry-failed starts its count afresh
    again = run_stage(engine, STAGE, params, retry_failed=True)
    assert (again.done, again.failed) == (1, 0)
    assert unit_rows(engine)[ids[1]].attempts == 1


def test_a_unit_that_kills_the_runner_itself_is_failed_after_max_attempts(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    # With one worker the unit computes in the runner's process and takes it down; the run
    # is left unfinished, the unit running. status names the run; the next run fails the
    # unit (max_attempts=1) instead of dying on it again.
    ids = add_subjects(engine, 4)
    killer = ids[2]
    marker = tmp_path / "marker"
    process = _worker(db_url, marker, sleep=0.0, workers=1, dying=[killer])
    assert process.wait(timeout=120) == -signal.SIGKILL
    assert computed(marker) == Counter(ids[:2])
    assert unit_rows(engine)[killer].state == "running"
    counts = status(engine)
    assert counts["n_interrupted_runs"] == 1
    run = counts["interrupted_runs"][0]
    assert (run["stage"], run["pid"], run["units_done"]) == ("dummy", process.pid, 2)
    assert run["interrupted"] == f"process {process.pid} is gone from {socket.gethostname()}"
    assert f"run {run['run_id']} dummy started" in format_status(counts)

    params = DummyParams(marker=str(marker), dying_subjects=(killer,))
    summary = run_stage(engine, STAGE, params, max_attempts=1)
    assert (summary.done, summary.failed) == (1, 1)
    assert "abandoned: the process computing it was lost on 1 attempts" in summary.failures[0][1]
    assert states(engine) == {"done": 3, "failed": 1}
    assert computed(marker) == Counter([ids[0], ids[1], ids[3]])
    assert status(engine)["n_interrupted_runs"] == 1  # the finished run is not listed


def test_outputs_that_cannot_be_stored_fail_only_their_unit(engine: Engine, tmp_path: Path):
    ids = add_subjects(engine, 3)
    params = DummyParams(marker=str(tmp_path / "marker"), unstorable_subjects=(ids[1],))
    summary = run_stage(engine, STAGE, params)
    assert (summary.done, summary.failed) == (2, 1)
    assert summary.failures[0][0] == ids[1]
    assert summary.failures[0][1].startswith(
        "storing the outputs failed: ValueError: outputs of subject 2 do not fit the table"
    )
    assert states(engine) == {"done": 2, "failed": 1}
    assert outputs_per_subject(engine) == Counter([ids[0], ids[2]])  # nothing half-written


# --- leases shorter than a unit --------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_a_unit_longer_than_its_lease_is_never_claimed_twice(
    engine: Engine, db_url: str, tmp_path: Path, workers: int
) -> None:
    # Two runners share the queue; every unit computes for twice the lease. Without renewals
    # the first runner to finish a unit would claim the other's expired units again.
    ids = add_subjects(engine, 4 * workers)
    marker = tmp_path / "marker"
    params = DummyParams(marker=str(marker), sleep_seconds=2.0)
    summaries: list[RunSummary] = []
    errors: list[BaseException] = []

    def runner() -> None:
        own = make_engine(db_url)
        try:
            summaries.append(run_stage(own, STAGE, params, workers=workers, lease_seconds=1.0))
        except BaseException as error:
            errors.append(error)
        finally:
            own.dispose()

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert computed(marker) == Counter(ids)  # each unit computed exactly once
    assert sorted(s.lost for s in summaries) == [0, 0]
    assert sum(s.done for s in summaries) == len(ids)
    assert all(s.done > 0 for s in summaries)  # both runners took part
    assert states(engine) == {"done": len(ids)}
    assert outputs_per_subject(engine) == Counter(ids)
    assert all(run.last_seen_at is not None for run in run_rows(engine).values())


# --- a lost database connection --------------------------------------------------------------


class ConnectionCutter:
    """Cuts the runner's database connections just before chosen statements run.

    PostgreSQL: every backend of the runner (by its application name) is terminated, as a
    server restart would; the statement then fails on its dead connection. SQLite has no
    connection to lose: the statement fails with an I/O error instead.
    """

    def __init__(self, engine: Engine, admin_url: str, starts: tuple[str, ...], times: float):
        self.starts = starts
        self.left = times
        self.cuts = 0
        self.lock = threading.Lock()
        self.application_name = engine.url.query.get("application_name")
        self.admin = make_engine(admin_url) if engine.dialect.name == "postgresql" else None
        event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        with self.lock:
            if self.left <= 0 or not statement.lstrip().startswith(self.starts):
                return
            self.left -= 1
            self.cuts += 1
        if self.admin is None:
            raise sqlite3.OperationalError("disk I/O error")
        with self.admin.begin() as admin:
            admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND application_name = :name"
                ),
                {"name": self.application_name},
            )

    def close(self) -> None:
        if self.admin is not None:
            self.admin.dispose()


def _runner_engine(db_url: str) -> Engine:
    """An engine whose connections carry a name of their own (PostgreSQL)."""
    if db_url.startswith("postgresql"):
        name = f"gzbcat-runner-{uuid.uuid4().hex[:8]}"
        separator = "&" if "?" in db_url else "?"
        return make_engine(f"{db_url}{separator}application_name={name}")
    return make_engine(db_url)


def test_a_lost_connection_is_retried_and_no_unit_is_doubled(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    ids = add_subjects(engine, 6)
    marker = tmp_path / "marker"
    runner_engine = _runner_engine(db_url)
    # Cut at the first claim, the first store's status update, and an insert of outputs.
    cutter = ConnectionCutter(
        runner_engine, db_url, ("UPDATE stage_units", "INSERT INTO models"), times=4
    )
    try:
        summary = run_stage(
            runner_engine, STAGE, DummyParams(marker=str(marker)), reconnect_seconds=30
        )
    finally:
        cutter.close()
        runner_engine.dispose()
    assert cutter.cuts == 4
    assert (summary.done, summary.failed, summary.lost) == (6, 0, 0)
    assert computed(marker) == Counter(ids)  # nothing computed twice
    assert outputs_per_subject(engine) == Counter(ids)  # nothing stored twice
    assert states(engine) == {"done": 6}
    assert run_rows(engine)[summary.run_id].finished_at is not None


def test_a_database_gone_for_good_stops_the_runner_with_a_clear_error(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    ids = add_subjects(engine, 3)
    marker = tmp_path / "marker"
    params = DummyParams(marker=str(marker))
    runner_engine = _runner_engine(db_url)
    cutter = ConnectionCutter(runner_engine, db_url, ("UPDATE stage_units",), times=float("inf"))
    try:
        with pytest.raises(DatabaseUnavailableError, match="could not reconnect within 1 s"):
            run_stage(runner_engine, STAGE, params, reconnect_seconds=1.0)
    finally:
        cutter.close()
        runner_engine.dispose()
    assert cutter.cuts >= 2  # retried before giving up
    summary = run_stage(engine, STAGE, params)
    assert summary.done == 3
    assert computed(marker) == Counter(ids)


# --- interrupted runs in status --------------------------------------------------------------


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_status_names_runs_whose_process_is_gone(engine: Engine) -> None:
    here = socket.gethostname()
    now = datetime.now(UTC)
    dead = _dead_pid()

    def run(**values: Any) -> schema.Run:
        base = {"params": "{}", "params_hash": "x", "code_version": "0", "stage": "aggregate"}
        return schema.Run(**{**base, **values})

    with session_scope(engine, write=True) as session:
        session.add_all(
            [
                run(host=here, pid=dead, started_at=now, units_done=7, units_failed=1),
                run(host=here, pid=dead, started_at=now, finished_at=now),  # finished
                run(host=here, pid=None, started_at=now),  # no process recorded: unknown
                run(stage="tune-aggregate", host=here, pid=1, started_at=now, last_seen_at=now),
                run(
                    stage="best-individual",
                    host="node-elsewhere",
                    pid=4242,
                    started_at=now - timedelta(hours=2),
                    last_seen_at=now - timedelta(hours=1),
                    units_done=3,
                ),
                run(host="node-elsewhere", pid=4243, started_at=now, last_seen_at=now),
            ]
        )
    counts = status(engine)
    interrupted = {r["stage"]: r for r in counts["interrupted_runs"]}
    assert set(interrupted) == {"aggregate", "best-individual"}
    assert interrupted["aggregate"]["units_done"] == 7
    assert interrupted["aggregate"]["units_failed"] == 1
    assert interrupted["aggregate"]["interrupted"] == f"process {dead} is gone from {here}"
    assert interrupted["best-individual"]["interrupted"].startswith("not seen since")
    assert counts["running_runs"] == 2  # pid 1 lives; a fresh heartbeat (no pid: unknown)
    shown = format_status(counts)
    assert "interrupted runs: 2" in shown
    assert "aggregate started" in shown and "7 units done, 1 failed" in shown


# --- the command line ------------------------------------------------------------------------


def test_max_attempts_is_an_option_of_the_stage_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    runner = CliRunner()
    assert runner.invoke(app, ["--db", url, "init"]).exit_code == 0
    result = runner.invoke(app, ["--db", url, "aggregate", "--max-attempts", "0"])
    assert result.exit_code == 2
    assert "--max-attempts" in result.output
    result = runner.invoke(app, ["--db", url, "aggregate", "--max-attempts", "5"])
    assert result.exit_code == 0, result.output
    assert "aggregate: 0 done" in result.output
