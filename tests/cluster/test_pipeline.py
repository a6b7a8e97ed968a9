"""scripts/slurm/pipeline.sh on a real Slurm cluster: a clean run, then one with faults.

Both submit the whole pipeline (arrays of ARRAY_SIZE one-CPU tasks per stage, the tune arrays
after their source stages, the export last) against a fresh PostgreSQL schema holding
N_SUBJECTS simulated subjects, and check the queue's promise: every unit done exactly once,
whatever happened to the workers.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from astropy.table import Table

from tests.cluster.conftest import (
    ARRAY_SIZE,
    JOB_TIMEOUT_SECONDS,
    N_SUBJECTS,
    Task,
    gzbcat_environment,
    logs_of,
    output,
    query,
    submit_pipeline,
    wait_for_jobs,
)

STAGES = ("aggregate", "best-individual", "tune-aggregate", "tune-best-individual")
TUNE_STAGES = ("tune-aggregate", "tune-best-individual")
RESTART_POSTGRES = (
    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main restart"
    " && until pg_isready -q -h 127.0.0.1; do sleep 0.2; done"
)
"""How the fault run restarts PostgreSQL (override: $GZBCAT_TEST_POSTGRES_RESTART)."""


def assert_every_unit_done_once(db_url: str) -> dict[str, int]:
    """Every stage's units all done, and exactly one of each output: nothing lost, nothing
    doubled. Returns the claims (attempts) per stage."""
    units = query(
        db_url,
        "SELECT stage, state, count(*), sum(attempts) FROM stage_units GROUP BY stage, state",
    )
    by_stage = {stage: (state, n) for stage, state, n, _ in units}
    assert sorted(by_stage) == sorted(STAGES), units
    assert all(by_stage[stage] == ("done", N_SUBJECTS) for stage in STAGES), units
    kinds = dict(
        query(db_url, "SELECT kind, count(*) FROM models WHERE kind <> 'volunteer' GROUP BY kind")
    )
    assert kinds == {
        "aggregate": N_SUBJECTS,
        "best_individual": N_SUBJECTS,
        "tuned": 2 * N_SUBJECTS,
    }
    # one tuned model per subject and source model, each with its fit
    tuned = query(
        db_url,
        "SELECT source.kind, count(DISTINCT tuned.subject_id), count(*), count(fits.model_id)"
        " FROM models tuned JOIN models source ON source.model_id = tuned.source_model_id"
        " AND source.subject_id = tuned.subject_id"
        " LEFT JOIN fits ON fits.model_id = tuned.model_id"
        " WHERE tuned.kind = 'tuned' GROUP BY source.kind ORDER BY source.kind",
    )
    assert tuned == [
        ("aggregate", N_SUBJECTS, N_SUBJECTS, N_SUBJECTS),
        ("best_individual", N_SUBJECTS, N_SUBJECTS, N_SUBJECTS),
    ]
    assert query(db_url, "SELECT count(*) FROM fits") == [(2 * N_SUBJECTS,)]
    return {stage: int(attempts) for stage, _, _, attempts in units}


def assert_catalogue(path: Path, db_url: str) -> None:
    """The export job wrote one row per subject."""
    assert path.is_file(), f"{path} was not written"
    table = Table.read(path)
    subjects = {row[0] for row in query(db_url, "SELECT subject_id FROM subjects")}
    assert len(table) == N_SUBJECTS
    assert set(table["subject_id"].tolist()) == subjects


def arrays_and_export(found: list[Task], jobs: dict[str, str]) -> dict[str, list[Task]]:
    """The finished tasks of each submitted job, by job name."""
    return {name: [t for t in found if t.job == job_id] for name, job_id in jobs.items()}


def test_pipeline_runs_every_unit_once(slurm: str, database: str, tmp_path: Path) -> None:
    catalogue = tmp_path / "catalogue.fits"
    jobs = submit_pipeline(database, tmp_path, catalogue)
    by_job = arrays_and_export(wait_for_jobs(list(jobs.values())), jobs)

    for name, found in by_job.items():
        expected = 1 if name == "export" else ARRAY_SIZE
        assert len(found) == expected, (name, found)
        assert all(t.state == "COMPLETED" and t.exit_code == "0:0" for t in found), (
            f"{name}: {found}\n{logs_of(tmp_path)}"
        )
    attempts = assert_every_unit_done_once(database)
    assert attempts == dict.fromkeys(STAGES, N_SUBJECTS), "a unit was claimed twice"
    # every array task ran its stage once, and finished it
    runs = query(database, "SELECT stage, count(*), count(finished_at) FROM runs GROUP BY stage")
    for stage in STAGES:
        assert (stage, ARRAY_SIZE, ARRAY_SIZE) in runs, runs
    # the tune arrays shared their queues between tasks
    for stage in TUNE_STAGES:
        sharing = query(
            database,
            "SELECT count(DISTINCT m.run_id) FROM models m JOIN runs r USING (run_id)"
            f" WHERE r.stage = '{stage}'",
        )
        assert sharing[0][0] >= 2, f"one task of {stage} did every unit"
    assert_catalogue(catalogue, database)


def _running_tune_workers(db_url: str) -> dict[int, str]:
    """pid → stage of the live gzbcat processes now computing a tune unit (one host)."""
    rows = query(
        db_url,
        "SELECT worker, stage FROM stage_units WHERE state = 'running'"
        " AND stage IN ('tune-aggregate', 'tune-best-individual')",
    )
    live = {}
    for worker, stage in rows:
        pid = int(str(worker).split(":")[1])
        if Path(f"/proc/{pid}").exists():
            live[pid] = stage
    return live


def _array_task_of(pid: int) -> str:
    """``ARRAYID_TASK`` of the job whose batch process is ``pid`` (workers.sbatch execs gzbcat)."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    values = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
    return f"{values['SLURM_ARRAY_JOB_ID']}_{values['SLURM_ARRAY_TASK_ID']}"


def _tune_units_done(db_url: str) -> int:
    return int(
        query(
            db_url,
            "SELECT count(*) FROM stage_units WHERE state = 'done'"
            " AND stage IN ('tune-aggregate', 'tune-best-individual')",
        )[0][0]
    )


def _wait_for_tune_workers(
    db_url: str, count: int, exclude: set[int], *, after_done: int = 0
) -> dict[int, str]:
    """Wait until ``count`` tune workers outside ``exclude`` hold units, and at least
    ``after_done`` tune units are done; return the workers."""
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        live = {p: s for p, s in _running_tune_workers(db_url).items() if p not in exclude}
        if len(live) >= count and _tune_units_done(db_url) >= after_done:
            return live
        time.sleep(0.3)
    pytest.fail(f"never saw {count} tune workers computing at once")


def test_pipeline_survives_faults(slurm: str, database: str, tmp_path: Path) -> None:
    catalogue = tmp_path / "catalogue.fits"
    first = submit_pipeline(database, tmp_path / "first", catalogue)

    # Well into the tune arrays: kill -9 one worker, scancel another's array task …
    workers = _wait_for_tune_workers(database, 2, exclude=set(), after_done=N_SUBJECTS // 4)
    killed, cancelled = sorted(workers)[:2]
    killed_task, cancelled_task = _array_task_of(killed), _array_task_of(cancelled)
    os.kill(killed, signal.SIGKILL)
    subprocess.run(["scancel", cancelled_task], check=True)
    # … and restart PostgreSQL while another worker computes.
    _wait_for_tune_workers(database, 1, exclude={killed, cancelled})
    restart = os.environ.get("GZBCAT_TEST_POSTGRES_RESTART", RESTART_POSTGRES)
    subprocess.run(["bash", "-c", restart], check=True, timeout=120)

    by_job = arrays_and_export(wait_for_jobs(list(first.values())), first)
    finished = {f"{t.job}_{t.task}": t for name in TUNE_STAGES for t in by_job[name]}
    assert finished[killed_task].state == "FAILED", finished[killed_task]
    assert finished[killed_task].exit_code.endswith(":9"), finished[killed_task]
    assert finished[cancelled_task].state == "CANCELLED", finished[cancelled_task]
    # a failed array cancels the export that depended on it
    assert [t.state for t in by_job["export"]] == ["CANCELLED"], by_job["export"]
    assert not catalogue.exists()
    interrupted = [
        run_id for (run_id,) in query(database, "SELECT run_id FROM runs WHERE finished_at IS NULL")
    ]
    assert interrupted, "the killed worker's run was recorded as finished"

    # Submitting again finishes the work: done units are skipped, interrupted ones redone.
    again = submit_pipeline(database, tmp_path / "again", catalogue)
    for name, found in arrays_and_export(wait_for_jobs(list(again.values())), again).items():
        assert all(t.state == "COMPLETED" for t in found), (
            f"{name}: {found}\n{logs_of(tmp_path / 'again')}"
        )
    attempts = assert_every_unit_done_once(database)
    for stage in ("aggregate", "best-individual"):
        assert attempts[stage] == N_SUBJECTS, f"{stage} units were claimed again: {attempts}"
    # A one-CPU task computes one unit at a time, so each fault costs at most one redone unit
    # per task it hit: the killed one, the cancelled one, and those running at the restart
    # (at most one per CPU of the node).
    node_cpus = int(output(["sinfo", "-h", "-o", "%c"]).split()[0])
    redone = sum(attempts[stage] for stage in TUNE_STAGES) - 2 * N_SUBJECTS
    assert 1 <= redone <= 2 + node_cpus, attempts
    assert_catalogue(catalogue, database)

    # gzbcat status names the runs that were interrupted.
    status = output(
        ["bash", "-c", '$GZBCAT_COMMAND --db "$GZBCAT_DATABASE_URL" status'],
        env=gzbcat_environment(database),
    )
    named = _interrupted_lines(status)
    assert named, f"gzbcat status shows no interrupted runs:\n{status}"
    missing = [r for r in interrupted if not re.search(rf"\b{r}\b", named)]
    assert not missing, f"runs {missing} are not named as interrupted:\n{status}"


def _interrupted_lines(status: str) -> str:
    """The lines of ``gzbcat status`` that say "interrupted", each with the indented lines
    under it."""
    named: list[str] = []
    inside = False
    for line in status.splitlines():
        if "interrupted" in line.lower():
            inside = True
        elif not line.startswith((" ", "\t")):
            inside = False
        if inside:
            named.append(line)
    return "\n".join(named)
