"""A real Slurm cluster running gzbcat's job scripts: fixtures and helpers.

These tests need the single-node cluster that ``make cluster-test`` starts
(``scripts/slurm/local_cluster.sh``), which points ``SLURM_CONF`` at it, and a PostgreSQL
server (``GZBCAT_TEST_POSTGRES_URL``): Slurm's workers on many nodes share one PostgreSQL
queue, so these tests have no SQLite half. The default ``pytest`` run leaves this folder out
(``--ignore`` in pyproject.toml).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from gzbcat.db.engine import make_engine, upgrade
from gzbcat.simulate import simulate
from tests.conftest import fresh_database_url, ingest_sample

REPOSITORY = Path(__file__).resolve().parents[2]
PIPELINE = REPOSITORY / "scripts" / "slurm" / "pipeline.sh"
N_SUBJECTS = 60
"""Simulated subjects: enough for every array task to find work, few enough for two CPUs."""
ARRAY_SIZE = 4
FINISHED_STATES = {
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
}
JOB_TIMEOUT_SECONDS = 900.0
"""A safety net against a hung cluster, far beyond what the jobs take."""


def output(command: list[str], env: dict[str, str] | None = None) -> str:
    """What ``command`` prints; it must succeed."""
    return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def slurm() -> str:
    """The path of the running test cluster's slurm.conf."""
    conf = os.environ.get("SLURM_CONF")
    if not conf or not Path(conf).is_file():
        pytest.fail("no Slurm cluster: run these tests with `make cluster-test`")
    states = output(["sinfo", "-h", "-o", "%T"]).split()
    assert states and all(s in ("idle", "mixed", "allocated") for s in states), states
    return conf


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated export of N_SUBJECTS galaxies (every stage succeeds on all of them)."""
    folder = tmp_path_factory.mktemp("sample")
    simulate(folder, galaxies=N_SUBJECTS, volunteers=30, seed=0)
    return folder


@pytest.fixture
def database(sample: Path, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh PostgreSQL schema holding the ingested sample (dropped afterwards)."""
    if not os.environ.get("GZBCAT_TEST_POSTGRES_URL"):
        pytest.fail("GZBCAT_TEST_POSTGRES_URL is not set: Slurm workers share a PostgreSQL queue")
    with fresh_database_url("postgresql", tmp_path) as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            ingest_sample(engine, sample)
        finally:
            engine.dispose()
        yield url


def gzbcat_environment(db_url: str) -> dict[str, str]:
    """The environment jobs inherit: this checkout's gzbcat, run by this Python, on ``db_url``."""
    environment = dict(os.environ)
    path = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = f"{REPOSITORY}{os.pathsep}{path}" if path else str(REPOSITORY)
    environment["GZBCAT_COMMAND"] = f"{shlex.quote(sys.executable)} -m gzbcat"
    environment["GZBCAT_DATABASE_URL"] = db_url
    return environment


def submit_pipeline(db_url: str, folder: Path, catalogue: Path) -> dict[str, str]:
    """Run pipeline.sh with ARRAY_SIZE one-CPU tasks per array; job name → job id."""
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            str(PIPELINE),
            "--array-size",
            str(ARRAY_SIZE),
            "--cpus-per-task",
            "1",
            "--out",
            str(catalogue),
            "--logs",
            str(folder / "logs"),
        ],
        cwd=folder,
        env=gzbcat_environment(db_url),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = dict(line.split() for line in result.stdout.splitlines() if line.strip())
    assert list(jobs) == [
        "aggregate",
        "best-individual",
        "tune-aggregate",
        "tune-best-individual",
        "export",
    ], result.stdout
    return jobs


@dataclass(frozen=True)
class Task:
    """One job or array task as ``scontrol show job`` describes it."""

    job: str  # the id given at submission (the array's id for its tasks)
    task: str | None  # array task index ("2"), or a range of tasks still pending ("2-3")
    state: str
    exit_code: str  # "status:signal"
    reason: str


def tasks(job_ids: list[str]) -> list[Task]:
    """Every task of these jobs, finished ones included (the cluster keeps them an hour)."""
    found: list[Task] = []
    for job_id in job_ids:
        for line in output(["scontrol", "-o", "show", "job", job_id]).splitlines():
            fields = dict(re.findall(r"(\w+)=(\S*)", line))
            found.append(
                Task(
                    job=job_id,
                    task=fields.get("ArrayTaskId"),
                    state=fields["JobState"],
                    exit_code=fields.get("ExitCode", ""),
                    reason=fields.get("Reason", ""),
                )
            )
    return found


def wait_for_jobs(job_ids: list[str]) -> list[Task]:
    """Wait until every task of these jobs has finished; return them."""
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while True:
        found = tasks(job_ids)
        if all(t.state in FINISHED_STATES for t in found):
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"jobs still not finished after {JOB_TIMEOUT_SECONDS:.0f} s: {found}")
        time.sleep(2)


def logs_of(folder: Path) -> str:
    """The jobs' logs, for assertion messages."""
    return "\n".join(
        f"--- {path.name}\n{path.read_text(errors='replace')[-2000:]}"
        for path in sorted((folder / "logs").glob("*.log"))
    )


def query(db_url: str, sql: str) -> list[tuple[object, ...]]:
    """Rows of one read-only query on the test database."""
    engine: Engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()
