"""Benchmark: ingest a large classification export into a fresh SQLite database.

Builds an export of N rows (default 200,000) by replicating the three real sample rows under new
classification ids across the 50 real subjects, ingests the subjects, then times
``gzbcat ingest classifications`` as a separate process and prints classifications per second
and peak memory: the largest single process (max RSS) and the ingest with its parsing
processes together (summed proportional set size, sampled every 0.2 s).

    python scripts/bench_ingest.py [--rows N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gzbcat.db.engine import make_engine, upgrade
from gzbcat.settings import shared_data_dir
from gzbcat.stages.ingest import ingest_subjects
from gzbcat.stages.status import status

csv.field_size_limit(2**31 - 1)


def build_export(sample: Path, subject_ids: list[int], rows: int, out: Path) -> None:
    """Write ``rows`` classifications, streaming, cycling sample rows over the subjects."""
    with (sample / "classifications-sample.csv").open(newline="") as handle:
        template = list(csv.DictReader(handle))
    header = [*template[0].keys(), "user_name", "user_id"]
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        for i in range(rows):
            row = dict(template[i % len(template)])
            subject_id = subject_ids[i % len(subject_ids)]
            row["classification_id"] = str(300_000_000 + i)
            row["subject_ids"] = str(subject_id)
            row["subject_data"] = json.dumps({str(subject_id): {}})
            row["user_name"] = f"volunteer{i % 997}"
            row["user_id"] = str(1000 + i % 997)
            writer.writerow(row)


def tree_pss_kb(pid: int) -> int:
    """Proportional set size of a process and its children (Linux /proc), in kB."""
    total = 0
    children_file = Path(f"/proc/{pid}/task/{pid}/children")
    children = children_file.read_text().split() if children_file.exists() else []
    for member in [pid, *map(int, children)]:
        try:
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass  # the process ended between the listing and the read
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--keep", type=Path, help="write the database and export here")
    args = parser.parse_args()
    data = shared_data_dir()
    if data is None:
        sys.exit("../shared/data not found: set GZBCAT_SHARED_DATA")
    sample = data / "galaxy-builder"
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="gzbcat-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "bench.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{database}"
    engine = make_engine(url)
    upgrade(engine)
    ingest_subjects(engine, sample / "subjects.csv", sample)
    with (sample / "subjects.csv").open(newline="") as handle:
        subject_ids = [int(row["subject_id"]) for row in csv.DictReader(handle)]
    export = workdir / "classifications.csv"
    started = time.perf_counter()
    build_export(sample, subject_ids, args.rows, export)
    print(
        f"built {args.rows:,} rows ({export.stat().st_size / 1e6:.0f} MB) "
        f"in {time.perf_counter() - started:.1f} s"
    )

    command = [
        sys.executable,
        "-m",
        "gzbcat",
        "--db",
        url,
        "ingest",
        "classifications",
        str(export),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak_tree_kb = 0
    while process.poll() is None:
        peak_tree_kb = max(peak_tree_kb, tree_pss_kb(process.pid))
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"ingest failed with exit code {process.returncode}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    counts = status(engine)
    print(
        f"ingested: {counts['classifications']} classifications, "
        f"{counts['models']} models, {counts['volunteer_arms']} arms"
    )
    print(f"time: {seconds:.1f} s (whole process, start-up included)")
    print(f"rate: {args.rows / seconds:,.0f} classifications/s")
    print(
        f"peak memory: largest process {peak_mb:.0f} MB (max RSS); "
        f"ingest and its parsing processes together {peak_tree_kb / 1024:.0f} MB (PSS)"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
