"""Bad data at scale: corrupt a simulated export in many ways, run the pipeline, check nothing
good was lost and nothing bad got in.

A simulated sample (default 300 galaxies × 30 volunteers = 9,000 classifications) is written;
a fraction of its rows (default 1 %) is corrupted, each in one of the ways in ``KINDS`` (bad
JSON, NaN, inf, 1e308, negative and zero sizes, empty and truncated rows, a known id with other
content, an unknown subject, a 10,000-point arm, a far arm point, an absurd slider). Two
databases are filled:

- *corrupted*: the subject export and the corrupted classification export;
- *reference*: the same subjects and the export without the rows that must be refused (a
  kind that is ``accepted`` would be kept in both).

and then checked:

1. every corrupted row is recorded where its kind says (``parse_error`` of the classification,
   a row of ``ingest_errors``, or a classification waiting for an image), with its reason;
2. every other classification lands exactly as in the reference (status, error, drawing and
   volunteer model);
3. every subject's aggregate is the same in both: a refused drawing changes nothing;
4. best-individual and tune finish on the subjects that had corrupted rows (no unit left
   pending or running; failures are counted, not fatal).

Usage::

    python scripts/fuzz_ingest.py                      # 9,000 rows, SQLite files in a temp dir
    python scripts/fuzz_ingest.py --galaxies 20 --volunteers 10 --fraction 0.1
    python scripts/fuzz_ingest.py --postgres postgresql+psycopg://postgres@127.0.0.1/test

Exit code 0 when every check holds, 1 otherwise (the failed checks are printed).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url

from gzbcat.db import schema
from gzbcat.db.engine import make_engine, session_scope, upgrade
from gzbcat.db.models import load_models
from gzbcat.model import GalaxyModel, Method
from gzbcat.process import configure_process
from gzbcat.simulate import simulate
from gzbcat.stages.ingest import ingest_classifications, ingest_subjects
from gzbcat.stages.registry import STAGES
from gzbcat.stages.runner import run_stage

csv.field_size_limit(1 << 30)

# --------------------------------------------------------------------------- corruptions


@dataclass(frozen=True)
class Corruption:
    """One corrupted row: what was done, and where its record is expected."""

    kind: str
    classification_id: int | None  # None: the row has no usable id (empty, truncated)
    row_number: int  # 1-based data row number in the corrupted export
    where: str  # "parse_error", "ingest_error", "waiting" or "accepted"
    reason: str  # a phrase the recorded message must contain ("" for accepted rows)
    refused: bool  # left out of the reference export


def _task(annotation: list[dict[str, Any]], name: str) -> list[Any] | None:
    for task in annotation:
        if task.get("task") == name:
            return task.get("value")
    return None


def _first_drawing(annotation: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    values = _task(annotation, name)
    if not values or not isinstance(values[0], dict):
        return None
    drawings = values[0].get("value")
    return drawings[0] if drawings else None


def _first_arm(annotation: list[dict[str, Any]]) -> dict[str, Any] | None:
    arm = _first_drawing(annotation, "spiral")
    return arm if arm and len(arm.get("points", [])) >= 2 else None


Edit = Callable[[list[dict[str, Any]]], bool]  # changes the annotation; False: not applicable


def _set_disk(key: str, value: float) -> Edit:
    def edit(annotation: list[dict[str, Any]]) -> bool:
        disk = _first_drawing(annotation, "disk")
        if disk is None:
            return False
        disk[key] = value if value != -1.0 else -abs(disk[key])
        return True

    return edit


def _set_scale_slider(annotation: list[dict[str, Any]]) -> bool:
    values = _task(annotation, "disk")
    if not values or len(values) < 2 or _first_drawing(annotation, "disk") is None:
        return False
    values[1]["value"] = 1e308
    return True


def _long_arm(annotation: list[dict[str, Any]]) -> bool:
    arm = _first_arm(annotation)
    if arm is None:
        return False
    xy = np.array([[p["x"], p["y"]] for p in arm["points"]], dtype=float)
    t = np.linspace(0, len(xy) - 1, 10_000)
    x = np.interp(t, np.arange(len(xy)), xy[:, 0])
    y = np.interp(t, np.arange(len(xy)), xy[:, 1])
    arm["points"] = [{"x": float(a), "y": float(b)} for a, b in zip(x, y, strict=True)]
    return True


def _far_arm_point(annotation: list[dict[str, Any]]) -> bool:
    arm = _first_arm(annotation)
    if arm is None:
        return False
    arm["points"][len(arm["points"]) // 2] = {"x": 1e308, "y": 10.0}
    return True


def _zero_bar(annotation: list[dict[str, Any]]) -> bool:
    bar = _first_drawing(annotation, "bar")
    if bar is None:
        return _set_disk("ry", 0.0)(annotation)
    bar["width"] = 0
    return True


# kind → (edit of the annotation, or None for a row-level corruption; where; reason; refused)
KINDS: dict[str, tuple[Edit | None, str, str, bool]] = {
    "bad_json": (None, "parse_error", "not valid JSON", True),
    "nan": (_set_disk("x", float("nan")), "parse_error", "not a finite number", True),
    "inf": (_set_disk("rx", float("inf")), "parse_error", "not a finite number", True),
    "huge": (_set_disk("rx", 1e308), "parse_error", "far outside the canvas", True),
    "negative_size": (_set_disk("ry", -1.0), "parse_error", "negative size", True),
    "zero_size": (_zero_bar, "parse_error", "zero size", True),
    "absurd_slider": (_set_scale_slider, "parse_error", "beyond any slider's range", True),
    "far_arm_point": (_far_arm_point, "parse_error", "far outside the canvas", True),
    "long_arm": (_long_arm, "parse_error", "more than any drawn arm has", True),
    "empty_row": (None, "ingest_error", "classification_id", True),
    "truncated_row": (None, "ingest_error", "subject_ids", True),
    "duplicate_id": (None, "ingest_error", "differs from", True),
    "unknown_subject": (None, "waiting", "", True),
}


def corrupt_export(
    source: Path, corrupted: Path, reference: Path, fraction: float, seed: int
) -> list[Corruption]:
    """Write ``corrupted`` (``fraction`` of the rows of ``source`` corrupted, kinds in turn)
    and ``reference`` (``source`` with the refused rows left out); return what was done."""
    with source.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    column = {name: i for i, name in enumerate(header)}
    rng = np.random.default_rng(seed)
    n_bad = max(len(KINDS), round(fraction * len(rows)))
    chosen = set(rng.choice(len(rows), size=min(n_bad, len(rows)), replace=False).tolist())
    kinds = list(KINDS)
    next_id = max(int(r[column["classification_id"]]) for r in rows if r) + 1
    corrupted_rows: list[list[str]] = []
    reference_rows: list[list[str]] = []
    done: list[Corruption] = []
    turn = 0
    for index, row in enumerate(rows):
        if index not in chosen:
            corrupted_rows.append(row)
            reference_rows.append(row)
            continue
        kind = kinds[turn % len(kinds)]
        turn += 1
        applied = _corrupt(row, kind, column, next_id)
        if applied is None:  # the drawing lacks what this kind edits: bad JSON instead
            kind = "bad_json"
            applied = _corrupt(row, kind, column, next_id)
            assert applied is not None
        _, where, reason, refused = KINDS[kind]
        new_rows, keep_original = applied
        if keep_original:
            corrupted_rows.append(row)
            reference_rows.append(row)
        for new_row in new_rows:
            corrupted_rows.append(new_row)
            cid = new_row[column["classification_id"]] if len(new_row) > 1 else ""
            done.append(
                Corruption(
                    kind,
                    int(cid) if cid.strip().isdigit() else None,
                    len(corrupted_rows),
                    where,
                    reason,
                    refused,
                )
            )
            if not refused:
                reference_rows.append(new_row)
        if kind == "unknown_subject":
            next_id += 1
    for path, data in ((corrupted, corrupted_rows), (reference, reference_rows)):
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(data)
    return done


def _corrupt(
    row: list[str], kind: str, column: dict[str, int], next_id: int
) -> tuple[list[list[str]], bool] | None:
    """(rows written in its place, whether the original row is kept too), or None."""
    annotations_at = column["annotations"]
    if kind == "bad_json":
        new = list(row)
        new[annotations_at] = row[annotations_at][: len(row[annotations_at]) // 2]
        return [new], False
    if kind == "empty_row":
        return [[""] * len(row)], False
    if kind == "truncated_row":
        return [row[: column["subject_ids"]]], False
    if kind == "duplicate_id":
        twin = list(row)
        twin[column["created_at"]] = "2031-01-01 00:00:00 UTC"
        return [twin], True  # the original first, then the same id with other content
    if kind == "unknown_subject":
        stranger = list(row)
        stranger[column["classification_id"]] = str(next_id)
        stranger[column["subject_ids"]] = "999999999"
        stranger[column["subject_data"]] = json.dumps({"999999999": {}})
        return [stranger], True
    edit = KINDS[kind][0]
    assert edit is not None
    try:
        annotation = json.loads(row[annotations_at])
    except ValueError:
        return None
    if not isinstance(annotation, list) or not edit(annotation):
        return None
    new = list(row)
    new[annotations_at] = json.dumps(annotation)
    return [new], False


# --------------------------------------------------------------------------- databases


def _database(base: str | None, folder: Path, name: str) -> str:
    """A fresh database: a SQLite file in ``folder``, or a new schema under ``base``."""
    if base is None:
        return f"sqlite:///{folder / f'{name}.sqlite'}"
    schema_name = f"gzbcat_fuzz_{name}_{uuid.uuid4().hex[:8]}"
    engine = make_engine(base)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema_name}"'))
    engine.dispose()
    return (
        make_url(base)
        .update_query_dict({"options": f"-csearch_path={schema_name}"})
        .render_as_string(hide_password=False)
    )


def drop_database(url: str) -> None:
    """Drop a schema made by :func:`_database` (SQLite files go with their folder)."""
    options = make_url(url).query.get("options")
    if not options:
        return
    schema_name = str(options).split("=", 1)[1]
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema_name}" CASCADE'))
    engine.dispose()


def fill(url: str, sample: Path, export: Path, method: Method) -> tuple[Engine, Any]:
    """init, ingest the subjects and ``export``, aggregate: the engine and the ingest summary."""
    engine = make_engine(url)
    upgrade(engine)
    ingest_subjects(engine, sample / "subjects.csv", sample)
    summary = ingest_classifications(engine, export, method=method)
    run_stage(engine, STAGES["aggregate"].stage, STAGES["aggregate"].make_params(method))
    return engine, summary


# --------------------------------------------------------------------------- checks


def _classifications(engine: Engine) -> dict[int, tuple[Any, ...]]:
    table = schema.Classification
    with session_scope(engine) as session:
        return {
            r.classification_id: (r.subject_id, r.parse_status, r.parse_error, r.annotations)
            for r in session.execute(
                select(
                    table.classification_id,
                    table.subject_id,
                    table.parse_status,
                    table.parse_error,
                    table.annotations,
                )
            )
        }


def _models(engine: Engine, kind: str, key: Any) -> dict[int, str]:
    """Models of ``kind`` by ``key`` (classification or subject id) as canonical JSON."""
    with session_scope(engine) as session:
        ids = dict(
            session.execute(
                select(key, schema.Model.model_id).where(schema.Model.kind == kind)
            ).all()
        )
        models = load_models(session, list(ids.values()))
    return {k: _canonical(models[model_id]) for k, model_id in ids.items()}


def _canonical(model: GalaxyModel) -> str:
    return json.dumps(model.to_dict(), sort_keys=True, default=str)


def check(corrupted: Engine, reference: Engine, corruptions: list[Corruption]) -> list[str]:
    """Every check of the module docstring but the stages'; returns what failed."""
    problems: list[str] = []
    stored = _classifications(corrupted)
    with session_scope(corrupted) as session:
        errors = session.execute(
            select(schema.IngestError.row_number, schema.IngestError.message)
        ).all()
    by_row = {row: message for row, message in errors if row is not None}
    for c in corruptions:
        if c.where == "ingest_error":
            message = by_row.get(c.row_number, "")
            if c.reason not in message:
                problems.append(f"{c.kind} row {c.row_number}: not in ingest_errors ({message!r})")
            continue
        record = stored.get(c.classification_id) if c.classification_id else None
        if record is None:
            problems.append(f"{c.kind} row {c.row_number}: classification not stored")
        elif c.where == "parse_error" and (
            record[1] != "error" or c.reason not in (record[2] or "")
        ):
            problems.append(f"{c.kind} row {c.row_number}: {record[1]} {record[2]!r}")
        elif c.where == "waiting" and record[1] != "waiting":
            problems.append(f"{c.kind} row {c.row_number}: {record[1]}, not waiting")
        elif c.where == "accepted" and record[1] != "ok":
            problems.append(f"{c.kind} row {c.row_number}: {record[1]} {record[2]!r}")
    touched = {c.classification_id for c in corruptions if c.refused and c.kind != "duplicate_id"}
    expected = _classifications(reference)
    for cid, record in expected.items():
        if cid not in touched and stored.get(cid) != record:
            problems.append(f"classification {cid} differs from the clean ingest")
    volunteers_c = _models(corrupted, schema.ModelKind.VOLUNTEER, schema.Model.classification_id)
    volunteers_r = _models(reference, schema.ModelKind.VOLUNTEER, schema.Model.classification_id)
    for cid, model in volunteers_r.items():
        if volunteers_c.get(cid) != model:
            problems.append(f"the volunteer model of classification {cid} differs")
    extra = set(volunteers_c) - set(volunteers_r)
    if extra:
        problems.append(f"volunteer models of refused rows were stored: {sorted(extra)[:5]}")
    aggregates_c = _models(corrupted, schema.ModelKind.AGGREGATE, schema.Model.subject_id)
    aggregates_r = _models(reference, schema.ModelKind.AGGREGATE, schema.Model.subject_id)
    for subject_id, model in aggregates_r.items():
        if aggregates_c.get(subject_id) != model:
            problems.append(f"the aggregate of subject {subject_id} differs")
    if len(aggregates_c) != len(aggregates_r):
        problems.append(f"{len(aggregates_c)} aggregates against {len(aggregates_r)}")
    return problems


def finish_stages(engine: Engine, subjects: list[int], method: Method) -> tuple[list[str], str]:
    """Run best-individual and both tunes on ``subjects``; problems and a one-line account."""
    problems = []
    account = []
    for name in ("best-individual", "tune-aggregate", "tune-best-individual"):
        summary = run_stage(
            engine, STAGES[name].stage, STAGES[name].make_params(method), subjects=subjects
        )
        account.append(f"{name} {summary.done} done / {summary.failed} failed")
        with session_scope(engine) as session:
            left = session.scalar(
                select(schema.StageUnit.subject_id)
                .where(
                    schema.StageUnit.stage == name,
                    schema.StageUnit.subject_id.in_(subjects),
                    schema.StageUnit.state.in_(["pending", "running"]),
                )
                .limit(1)
            )
        if left is not None:
            problems.append(f"{name}: subject {left} was left unfinished")
    return problems, "; ".join(account)


# --------------------------------------------------------------------------- main


def fuzz(
    folder: Path,
    *,
    galaxies: int,
    volunteers: int,
    fraction: float,
    seed: int,
    postgres: str | None = None,
    stage_subjects: int = 20,
    method: Method = Method.CORRECTED,
    report: Callable[[str], None] = print,
) -> list[str]:
    """The whole check (see the module docstring); returns the problems found."""
    sample = folder / "sample"
    started = time.perf_counter()
    simulate(sample, galaxies=galaxies, volunteers=volunteers, seed=seed)
    corruptions = corrupt_export(
        sample / "classifications.csv",
        folder / "corrupted.csv",
        folder / "reference.csv",
        fraction,
        seed,
    )
    kinds = sorted({c.kind for c in corruptions})
    report(
        f"simulated {galaxies} × {volunteers}; corrupted {len(corruptions)} rows in "
        f"{len(kinds)} ways ({time.perf_counter() - started:.1f} s)"
    )
    urls = [_database(postgres, folder, name) for name in ("corrupted", "reference")]
    try:
        started = time.perf_counter()
        corrupted, summary = fill(urls[0], sample, folder / "corrupted.csv", method)
        reference, _ = fill(urls[1], sample, folder / "reference.csv", method)
        report(
            f"ingested and aggregated both ({time.perf_counter() - started:.1f} s): "
            f"{summary.rows_read} rows read, {summary.parse_errors} parse errors, "
            f"{summary.n_problems} ingest problems, {summary.changed_content} changed content"
        )
        problems = check(corrupted, reference, corruptions)
        subjects = sorted(
            {
                s
                for (cid,) in [(c.classification_id,) for c in corruptions]
                if cid is not None
                for s in [_classifications(corrupted).get(cid, (None,))[0]]
                if s is not None and s != 999999999
            }
        )[:stage_subjects]
        started = time.perf_counter()
        stage_problems, account = finish_stages(corrupted, subjects, method)
        problems += stage_problems
        report(
            f"stages on {len(subjects)} subjects with corrupted rows "
            f"({time.perf_counter() - started:.1f} s): {account}"
        )
        corrupted.dispose()
        reference.dispose()
    finally:
        for url in urls:
            drop_database(url)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--galaxies", type=int, default=300)
    parser.add_argument("--volunteers", type=int, default=30)
    parser.add_argument("--fraction", type=float, default=0.01, help="rows corrupted")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres", help="a PostgreSQL URL (default: SQLite files)")
    parser.add_argument("--stage-subjects", type=int, default=20, help="subjects run through tune")
    args = parser.parse_args()
    configure_process()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gzbcat-fuzz-") as folder:
        problems = fuzz(
            Path(folder),
            galaxies=args.galaxies,
            volunteers=args.volunteers,
            fraction=args.fraction,
            seed=args.seed,
            postgres=args.postgres,
            stage_subjects=args.stage_subjects,
        )
    for problem in problems[:50]:
        print(f"FAILED: {problem}")
    print(
        f"{'all checks hold' if not problems else f'{len(problems)} checks failed'} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
