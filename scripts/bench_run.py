"""Benchmark: time a whole ``gzbcat run`` on a seeded simulated sample, as a user runs it.

Builds the sample of ``scripts/bench_aggregate.py`` (:func:`gzbcat.simulate.simulate`: 40
galaxies, 30 volunteers, seed 2024) in a temporary folder and ingests it into a SQLite file
(init, subjects, fitting metadata, classifications; not timed). Each repeat then copies that
file and runs the installed command line on the copy as a separate process::

    python -m gzbcat --db sqlite:///run-N.sqlite run --workers N --method M

so every stage (aggregate, best-individual, tune-aggregate, tune-best-individual) runs from
nothing, with the interpreter's start-up and imports included, exactly as on a real sample.

How to read the output, per repeat and as medians over the repeats:

* ``wall`` is the process's elapsed time; ``cpu`` its user + system CPU seconds, and page
  faults its minor and major ones (worker processes included). The machine may be shared:
  CPU seconds are the figure other load inflates least, wall the one a user waits for.
* per stage, ``wall`` is the ``runs`` row's ``finished_at − started_at`` (sync, claim, load,
  compute, store); ``compute`` is the sum of ``stage_units.seconds``, the CPU seconds of each
  unit's ``compute`` alone. ``outside stages`` is the whole wall less the stages' walls
  (start-up, imports, the CLI).

``--profile FILE`` adds one more run, always with one worker, under cProfile (as
``python -m cProfile -o FILE -m gzbcat … run``: the stages run in that one process, so the
profile holds the whole run, start-up included); read it with ``pstats`` (the script prints
the top entries). Its clock is elapsed time (``--profile-clock wall``, the default) or the
process's CPU time (``cpu``: other load on a shared machine does not count, but reading that
clock costs a system call per event, which roughly doubles the run and inflates functions
that are called very often); on a loaded machine elapsed time stretches every function
alike, so shares stay meaningful where seconds do not.
Any checkout can be measured by putting it first on ``PYTHONPATH``.

    python scripts/bench_run.py [--galaxies N] [--seed S] [--workers N] [--method M]
                                [--repeats R] [--keep DIR] [--profile FILE]
"""

from __future__ import annotations

import argparse
import pstats
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gzbcat.db.engine import make_engine, upgrade
from gzbcat.simulate import simulate
from gzbcat.stages.ingest import ingest_classifications, ingest_fitting_metadata, ingest_subjects

SQLITE_SUFFIXES = ("", "-wal", "-shm")
STAGE_KEYS = ("wall", "units", "compute")


def build_database(folder: Path, galaxies: int, volunteers: int, seed: int, method: str) -> Path:
    """Simulate the sample into ``folder`` and ingest it into ``folder/template.sqlite``."""
    sample = folder / "sample"
    simulate(sample, galaxies=galaxies, volunteers=volunteers, seed=seed)
    database = folder / "template.sqlite"
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    ingest_subjects(engine, sample / "subjects.csv", sample)
    ingest_fitting_metadata(engine, [sample / "fitting-metadata"])
    ingest_classifications(engine, sample / "classifications.csv", method=method)
    engine.dispose()
    return database


def fresh_copy(template: Path, target: Path) -> str:
    """Copy the ingested database (and any WAL left beside it); return its URL."""
    for suffix in SQLITE_SUFFIXES:
        source = Path(f"{template}{suffix}")
        Path(f"{target}{suffix}").unlink(missing_ok=True)
        if source.exists():
            shutil.copyfile(source, f"{target}{suffix}")
    return f"sqlite:///{target}"


def gzbcat_command(url: str, workers: int, method: str) -> list[str]:
    return ["-m", "gzbcat", *gzbcat_arguments(url, workers, method)]


def gzbcat_arguments(url: str, workers: int, method: str) -> list[str]:
    return ["--db", url, "run", "--workers", str(workers), "--method", method]


# ``python -m cProfile`` with a chosen clock: argv is (clock, output, gzbcat's arguments…).
PROFILED_GZBCAT = """
import cProfile, runpy, sys, time
clock, output = sys.argv[1:3]
sys.argv = ["gzbcat", *sys.argv[3:]]
profiler = cProfile.Profile(time.process_time if clock == "cpu" else time.perf_counter)
profiler.enable()
try:
    runpy.run_module("gzbcat", run_name="__main__", alter_sys=True)
finally:
    profiler.disable()
    profiler.dump_stats(output)
"""


@dataclass(frozen=True)
class Usage:
    """What one ``gzbcat`` process (and the workers it waited for) used."""

    wall: float
    user: float
    system: float
    minor_faults: int
    major_faults: int

    @property
    def cpu(self) -> float:
        return self.user + self.system


def run_timed(argv: list[str]) -> Usage:
    """Run ``python argv`` to the end and return what it used.

    CPU seconds and page faults are the change in this process's totals for its children:
    the command and every worker process it waited for.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, *argv],
        check=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        sys.exit(f"gzbcat run failed ({process.returncode}):\n{process.stdout}")
    return Usage(
        wall=wall,
        user=after.ru_utime - before.ru_utime,
        system=after.ru_stime - before.ru_stime,
        minor_faults=after.ru_minflt - before.ru_minflt,
        major_faults=after.ru_majflt - before.ru_majflt,
    )


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def last_run_id(database: Path) -> int:
    """The newest ``runs`` row (the ingests'): later rows are the timed run's stages."""
    connection = sqlite3.connect(database)
    try:
        return int(connection.execute("SELECT COALESCE(MAX(run_id), 0) FROM runs").fetchone()[0])
    finally:
        connection.close()


def stage_times(database: Path, after_run_id: int) -> dict[str, dict[str, float]]:
    """Per stage, in run order: wall seconds (``runs``), units and their compute seconds."""
    connection = sqlite3.connect(database)
    try:
        stages: dict[str, dict[str, float]] = {}
        for stage, started, finished in connection.execute(
            "SELECT stage, started_at, finished_at FROM runs WHERE run_id > ? ORDER BY run_id",
            (after_run_id,),
        ):
            wall = (_moment(finished) - _moment(started)).total_seconds() if finished else 0.0
            stages.setdefault(stage, {"wall": 0.0, "units": 0, "compute": 0.0})["wall"] += wall
        for stage, state, units, compute in connection.execute(
            "SELECT stage, state, COUNT(*), COALESCE(SUM(seconds), 0) FROM stage_units "
            "GROUP BY stage, state"
        ):
            entry = stages.setdefault(stage, {"wall": 0.0, "units": 0, "compute": 0.0})
            if state == "done":
                entry["units"], entry["compute"] = units, compute
            else:
                entry[state] = units
        return stages
    finally:
        connection.close()


def print_run(label: str, usage: Usage, stages: dict, cpu: float | None = None) -> None:
    """One run's (or the medians') whole and per-stage times; ``cpu`` defaults to user + sys."""
    inside = sum(s["wall"] for s in stages.values())
    cpu = usage.cpu if cpu is None else cpu
    print(
        f"{label}: wall {usage.wall:.2f} s, cpu {cpu:.2f} s "
        f"(user {usage.user:.2f}, sys {usage.system:.2f}); "
        f"page faults {usage.minor_faults:.0f} minor, {usage.major_faults:.0f} major"
    )
    for name, entry in stages.items():
        print(
            f"  {name:<22} wall {entry['wall']:7.2f} s  compute {entry['compute']:7.2f} s "
            f"over {int(entry['units'])} units"
            + "".join(f", {k} {int(v)}" for k, v in entry.items() if k not in STAGE_KEYS)
        )
    print(f"  {'outside stages':<22} wall {usage.wall - inside:7.2f} s")


def median_usage(runs: list[Usage]) -> Usage:
    """Each figure's median over the runs."""
    return Usage(
        *(
            statistics.median(getattr(run, name) for run in runs)
            for name in ("wall", "user", "system", "minor_faults", "major_faults")
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--galaxies", type=int, default=40)
    parser.add_argument("--volunteers", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--method", default="corrected", choices=("corrected", "reference"))
    parser.add_argument("--repeats", type=int, default=1, help="timed runs, each from nothing")
    parser.add_argument("--keep", type=Path, help="keep the sample and databases in DIR")
    parser.add_argument("--profile", type=Path, help="write a cProfile (pstats) of one more run")
    parser.add_argument(
        "--profile-clock",
        choices=("cpu", "wall"),
        default="wall",
        help="the profile's clock: elapsed (default) or CPU seconds of the process",
    )
    args = parser.parse_args()

    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        folder = args.keep
        cleanup = None
    else:
        cleanup = tempfile.TemporaryDirectory(prefix="gzbcat-bench-run-")
        folder = Path(cleanup.name)
    try:
        import gzbcat

        print(f"gzbcat from {Path(gzbcat.__file__).parent}")
        started = time.perf_counter()
        template = build_database(folder, args.galaxies, args.volunteers, args.seed, args.method)
        ingested = last_run_id(template)
        print(
            f"simulated and ingested {args.galaxies} subjects in "
            f"{time.perf_counter() - started:.1f} s (not timed)"
        )
        results = []
        for repeat in range(1, max(1, args.repeats) + 1):
            database = folder / f"run-{repeat}.sqlite"
            url = fresh_copy(template, database)
            usage = run_timed(gzbcat_command(url, args.workers, args.method))
            stages = stage_times(database, ingested)
            print_run(f"run {repeat} (workers {args.workers})", usage, stages)
            results.append((usage, stages))
        if len(results) > 1:
            medians = {
                name: {
                    key: statistics.median(r[1][name][key] for r in results) for key in STAGE_KEYS
                }
                for name in results[0][1]
            }
            print_run(
                f"median of {len(results)}",
                median_usage([r[0] for r in results]),
                medians,
                cpu=statistics.median(r[0].cpu for r in results),
            )
        if args.profile is not None:
            database = folder / "profile.sqlite"
            url = fresh_copy(template, database)
            output = args.profile.resolve()
            usage = run_timed(
                [
                    "-c",
                    PROFILED_GZBCAT,
                    args.profile_clock,
                    str(output),
                    *gzbcat_arguments(url, 1, args.method),
                ]
            )
            stages = stage_times(database, ingested)
            print_run("profiled run (workers 1)", usage, stages)
            print(f"profile written to {output}")
            pstats.Stats(str(output)).sort_stats("cumulative").print_stats(30)
    finally:
        if cleanup is not None:
            cleanup.cleanup()


if __name__ == "__main__":
    main()
