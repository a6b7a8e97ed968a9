"""Benchmark: time a whole ``gzbcat run`` on a seeded simulated sample, as a user runs it.

Builds the sample of ``scripts/bench_aggregate.py`` (:func:`gzbcat.simulate.simulate`: 40
galaxies, 30 volunteers, seed 2024) in a temporary folder and ingests it into a SQLite file
(init, subjects, fitting metadata, classifications; not timed). Each repeat then copies that
file and runs the installed command line on the copy as a separate process::

    python -m gzbcat --db sqlite:///run-N.sqlite run --workers N --method M

so every stage (aggregate, best-individual, tune-aggregate, tune-best-individual) runs from
nothing, with the interpreter's start-up and imports included, exactly as on a real sample.

How to read the output, per repeat and as medians over the repeats:

* ``wall`` is the process's elapsed time; ``cpu`` its user + system CPU seconds (worker
  processes included). The machine may be shared: CPU seconds are the figure other load
  inflates least, wall the one a user waits for.
* per stage, ``wall`` is the ``runs`` row's ``finished_at − started_at`` (sync, claim, load,
  compute, store); ``compute`` is the sum of ``stage_units.seconds``, the CPU seconds of each
  unit's ``compute`` alone. ``outside stages`` is the whole wall less the stages' walls
  (start-up, imports, the CLI).

``--profile FILE`` adds one more run, always with one worker, under cProfile
(``python -m cProfile -o FILE -m gzbcat … run``: the stages run in that one process, so the
profile holds the whole run); read it with ``pstats`` (the script prints the top entries).
Any checkout can be measured by putting it first on ``PYTHONPATH``.

    python scripts/bench_run.py [--galaxies N] [--seed S] [--workers N] [--method M]
                                [--repeats R] [--keep DIR] [--profile FILE]
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
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
    return ["-m", "gzbcat", "--db", url, "run", "--workers", str(workers), "--method", method]


def run_timed(argv: list[str]) -> tuple[float, float, float]:
    """Run ``python argv`` to the end; return its wall, user and system CPU seconds.

    The CPU seconds are the change in this process's children's totals: the command and
    every worker process it waited for.
    """
    before = os.times()
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, *argv],
        check=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wall = time.perf_counter() - started
    after = os.times()
    if process.returncode != 0:
        sys.exit(f"gzbcat run failed ({process.returncode}):\n{process.stdout}")
    return (
        wall,
        after.children_user - before.children_user,
        after.children_system - before.children_system,
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


def print_run(label: str, wall: float, user: float, system: float, stages: dict) -> None:
    inside = sum(s["wall"] for s in stages.values())
    print(
        f"{label}: wall {wall:.2f} s, cpu {user + system:.2f} s (user {user:.2f}, sys {system:.2f})"
    )
    for name, entry in stages.items():
        print(
            f"  {name:<22} wall {entry['wall']:7.2f} s  compute {entry['compute']:7.2f} s "
            f"over {int(entry['units'])} units"
            + "".join(f", {k} {int(v)}" for k, v in entry.items() if k not in STAGE_KEYS)
        )
    print(f"  {'outside stages':<22} wall {wall - inside:7.2f} s")


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
            wall, user, system = run_timed(gzbcat_command(url, args.workers, args.method))
            stages = stage_times(database, ingested)
            print_run(f"run {repeat} (workers {args.workers})", wall, user, system, stages)
            results.append((wall, user, system, stages))
        if len(results) > 1:
            names = list(results[0][3])
            medians = {
                name: {
                    key: statistics.median(r[3][name][key] for r in results) for key in STAGE_KEYS
                }
                for name in names
            }
            print_run(
                f"median of {len(results)}",
                statistics.median(r[0] for r in results),
                statistics.median(r[1] for r in results),
                statistics.median(r[2] for r in results),
                medians,
            )
        if args.profile is not None:
            database = folder / "profile.sqlite"
            url = fresh_copy(template, database)
            output = args.profile.resolve()
            wall, user, system = run_timed(
                ["-m", "cProfile", "-o", str(output), *gzbcat_command(url, 1, args.method)]
            )
            stages = stage_times(database, ingested)
            print_run("profiled run (workers 1)", wall, user, system, stages)
            print(f"profile written to {output}")
            pstats.Stats(str(output)).sort_stats("cumulative").print_stats(30)
    finally:
        if cleanup is not None:
            cleanup.cleanup()


if __name__ == "__main__":
    main()
