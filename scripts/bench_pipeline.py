"""Benchmark: N simulated subjects through the whole pipeline on PostgreSQL, as a user runs it.

A seeded sample of N galaxies (30 volunteers each, real subjects' images, PSFs and noise) is
simulated (not timed), then each step runs as its own ``gzbcat`` process against a fresh
PostgreSQL schema, exactly as in a batch script::

    gzbcat init
    gzbcat ingest subjects / fitting-metadata / classifications
    gzbcat aggregate --workers W
    gzbcat best-individual --workers W
    gzbcat tune --source aggregate --workers W
    gzbcat tune --source best-individual --workers W
    gzbcat export catalogue.fits

Printed per step: wall seconds, CPU seconds (user + system, worker processes included) and CPU
per subject; then the fixed start-up of a stage (the same stage command run again with
nothing due: the interpreter, imports and the database round trips that every stage pays),
the whole wall and CPU, and the database's size on disk (tables and indexes of the schema).

    python scripts/bench_pipeline.py --subjects 300 --workers 2 \\
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test] [--seed 0] [--keep DIR]

The machine may be shared: CPU seconds are what other load inflates least.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from gzbcat.db.engine import make_engine
from gzbcat.simulate import simulate

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Step:
    name: str
    wall: float
    cpu: float
    exit_code: int


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_step(name: str, url: str, *args: str, cwd: Path) -> Step:
    """One ``gzbcat`` process (its own interpreter, as in a script); timed from outside."""
    command = [sys.executable, "-m", "gzbcat", "--db", url, *args]
    cpu_before = _children_cpu()
    started = time.perf_counter()
    result = subprocess.run(command, check=False, cwd=cwd, capture_output=True, text=True)
    step = Step(
        name, time.perf_counter() - started, _children_cpu() - cpu_before, result.returncode
    )
    if result.returncode not in (0, 1):
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"{name}: exit {result.returncode}")
    return step


def schema_url(base: str) -> tuple[str, str]:
    """A fresh schema in ``base``'s database, and the URL that works inside it."""
    name = f"gzbcat_bench_{uuid.uuid4().hex[:8]}"
    engine = make_engine(base)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    engine.dispose()
    url = make_url(base).update_query_dict({"options": f"-csearch_path={name}"})
    return name, url.render_as_string(hide_password=False)


def schema_bytes(base: str, name: str) -> int:
    engine = make_engine(base)
    with engine.connect() as connection:
        size = connection.execute(
            text(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :name AND c.relkind IN ('r', 'm')"
            ),
            {"name": name},
        ).scalar_one()
    engine.dispose()
    return int(size)


def drop_schema(base: str, name: str) -> None:
    engine = make_engine(base)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    engine.dispose()


def bench(subjects: int, workers: int, base: str, seed: int, folder: Path) -> None:
    started = time.perf_counter()
    sample = folder / "sample"
    simulate(sample, galaxies=subjects, volunteers=30, seed=seed)
    print(f"simulated {subjects} subjects × 30 volunteers in {time.perf_counter() - started:.0f} s")
    name, url = schema_url(base)
    w = str(workers)
    try:
        steps = [
            run_step("init", url, "init", cwd=folder),
            run_step(
                "ingest subjects",
                url,
                "ingest",
                "subjects",
                str(sample / "subjects.csv"),
                "--files",
                str(sample),
                cwd=folder,
            ),
        ]
        metadata = sample / "fitting-metadata"
        if metadata.is_dir():
            steps.append(
                run_step(
                    "ingest fitting-metadata",
                    url,
                    "ingest",
                    "fitting-metadata",
                    str(metadata),
                    cwd=folder,
                )
            )
        steps += [
            run_step(
                "ingest classifications",
                url,
                "ingest",
                "classifications",
                str(sample / "classifications.csv"),
                cwd=folder,
            ),
            run_step("aggregate", url, "aggregate", "--workers", w, cwd=folder),
            run_step("best-individual", url, "best-individual", "--workers", w, cwd=folder),
            run_step(
                "tune aggregate", url, "tune", "--source", "aggregate", "--workers", w, cwd=folder
            ),
            run_step(
                "tune best-individual",
                url,
                "tune",
                "--source",
                "best-individual",
                "--workers",
                w,
                cwd=folder,
            ),
            run_step("export", url, "export", str(folder / "catalogue.fits"), cwd=folder),
        ]
        idle = run_step("aggregate, nothing due", url, "aggregate", "--workers", w, cwd=folder)
        size = schema_bytes(base, name)
    finally:
        drop_schema(base, name)
    print(f"\n{subjects} subjects, {workers} workers, PostgreSQL ({os.cpu_count()} CPUs)")
    print(f"{'step':<26}{'wall s':>9}{'CPU s':>9}{'CPU ms/subject':>16}{'exit':>6}")
    for step in steps:
        print(
            f"{step.name:<26}{step.wall:9.1f}{step.cpu:9.1f}"
            f"{1000 * step.cpu / subjects:16.1f}{step.exit_code:6d}"
        )
    wall = sum(s.wall for s in steps)
    cpu = sum(s.cpu for s in steps)
    print(f"{'whole pipeline':<26}{wall:9.1f}{cpu:9.1f}{1000 * cpu / subjects:16.1f}")
    print(f"fixed start-up of a stage (nothing due): {idle.wall:.2f} s wall, {idle.cpu:.2f} s CPU")
    print(f"database size: {size / 1e6:.1f} MB ({size / subjects / 1e3:.0f} kB per subject)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--postgres", default=os.environ.get("GZBCAT_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep the sample and catalogue here")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        bench(args.subjects, args.workers, args.postgres, args.seed, args.keep)
        return
    with tempfile.TemporaryDirectory(prefix="gzbcat-bench-") as folder:
        bench(args.subjects, args.workers, args.postgres, args.seed, Path(folder))


if __name__ == "__main__":
    main()
