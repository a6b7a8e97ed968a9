"""The per-subject stages: ``aggregate``, ``best-individual``, ``tune`` and ``run``.

Each maps the common options onto :func:`gzbcat.stages.runner.run_stage` with the stage's
parameters from :mod:`gzbcat.stages.registry`, and prints one line per stage.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from gzbcat.cli.common import MethodOption, exit_for_failures, fail, open_engine, progress
from gzbcat.model import Method

__all__ = ["register"]

WorkersOption = Annotated[
    int, typer.Option("--workers", help="Processes computing units in parallel.")
]
SubjectsOption = Annotated[
    list[int] | None,
    typer.Option("--subjects", help="Only these subject ids (repeat the option)."),
]
LimitOption = Annotated[
    int | None, typer.Option("--limit", help="Run at most this many units, then stop.")
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Redo units that are done and up to date.")
]
RetryOption = Annotated[
    bool, typer.Option("--retry-failed", help="Retry units that failed with the same inputs.")
]
SubjectsFileOption = Annotated[
    Path | None,
    typer.Option(
        "--subjects-file",
        help="Only the subject ids listed in this file (one a line; '#' starts a comment; "
        "a CSV's first column works too).",
        dir_okay=False,
    ),
]
MaxVolunteersOption = Annotated[
    str,
    typer.Option(
        "--max-volunteers",
        metavar="N|all",
        help="Aggregate the first N classifications of each subject by time (the published "
        "production path keeps 30), or all of them (the published worked example).",
    ),
]

BootstrapOption = Annotated[
    int,
    typer.Option(
        "--bootstrap",
        metavar="N",
        min=0,
        help="Resample each subject's volunteers N times (seeded) and take the aggregate's "
        "errors from the resampled aggregates' spread, storing in how many resamples each "
        "component and arm was found (0: errors from the members' spread / sqrt(members)).",
    ),
]


class TuneSource(StrEnum):
    """Which models ``tune`` fits, spelled as the commands are."""

    AGGREGATE = "aggregate"
    BEST_INDIVIDUAL = "best-individual"
    BOTH = "both"

    @classmethod
    def _missing_(cls, value: object) -> TuneSource | None:
        # the model kind's own spelling, best_individual, is accepted too
        return cls.BEST_INDIVIDUAL if value == "best_individual" else None


def _tune_source(value: str) -> TuneSource:
    try:
        return TuneSource(value)
    except ValueError:
        choices = ", ".join(source.value for source in TuneSource)
        raise typer.BadParameter(f"{value!r} is not one of {choices}") from None


def read_subject_ids(path: Path) -> list[int]:
    """Subject ids from a file: one a line (or a CSV whose first column holds them), blank
    lines and ``#`` comments skipped, a header line that is not a number skipped.

    Raises ValueError naming the file and line of anything else.
    """
    ids: list[int] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.split("#", 1)[0].split(",", 1)[0].strip().strip('"')
            if not text:
                continue
            if not text.isdigit():
                if not ids and number == 1 and not text[:1].isdigit():
                    continue  # a header such as subject_id
                raise ValueError(f"{path} line {number}: {text!r} is not a subject id")
            ids.append(int(text))
    return list(dict.fromkeys(ids))


def _max_volunteers(value: str) -> int | None:
    """``all`` → None (every classification), else a positive whole number."""
    if value.strip().lower() == "all":
        return None
    if not value.strip().isdigit() or int(value) < 1:
        raise fail(f"--max-volunteers must be a positive whole number or 'all', not {value!r}")
    return int(value)


def _subjects(subjects: list[int] | None, subjects_file: Path | None) -> list[int] | None:
    """The subject ids asked for by --subjects and --subjects-file together (None: all)."""
    if subjects_file is None:
        return subjects or None
    if not subjects_file.is_file():
        raise fail(f"--subjects-file {subjects_file}: no such file")
    try:
        from_file = read_subject_ids(subjects_file)
    except (ValueError, UnicodeDecodeError) as error:
        raise fail(f"--subjects-file: {error}") from None
    if not from_file:
        raise fail(f"--subjects-file {subjects_file} lists no subject ids")
    return list(dict.fromkeys([*(subjects or []), *from_file]))


MaxAttemptsOption = Annotated[
    int,
    typer.Option(
        "--max-attempts",
        min=1,
        help="Attempts at a unit whose worker process dies (killed, out of memory, crashed) "
        "before it is failed.",
    ),
]


@dataclass(frozen=True)
class _Queue:
    """How much of a stage's queue to work through, and how (the options every stage shares)."""

    workers: int
    subjects: list[int] | None
    limit: int | None
    force: bool
    retry_failed: bool
    max_attempts: int = 3


def _check_subjects(engine: Any, subjects: list[int] | None) -> int:
    """Name the asked-for subject ids the database does not know; none known is a usage
    error. Returns how many were unknown (they count as failed)."""
    from gzbcat.stages.explain import unknown_subjects

    if not subjects:
        return 0
    unknown = unknown_subjects(engine, subjects)
    if unknown and len(unknown) == len(set(subjects)):
        raise fail(
            f"no such subject{'s' if len(unknown) > 1 else ''}: "
            f"{', '.join(map(str, unknown[:20]))}{' …' if len(unknown) > 20 else ''} "
            "(gzbcat status counts the subjects ingested)"
        )
    if unknown:
        typer.secho(
            f"unknown subject ids, skipped: {', '.join(map(str, unknown[:20]))}"
            f"{f' … and {len(unknown) - 20} more' if len(unknown) > 20 else ''}",
            err=True,
            fg="yellow",
        )
    return len(unknown)


def _run_stage_command(ctx: typer.Context, name: str, params: Any, queue: _Queue) -> int:
    """Run one stage and print its line; return how many units failed."""
    from gzbcat.stages.explain import explain_queue
    from gzbcat.stages.registry import STAGES
    from gzbcat.stages.runner import (
        DEFAULT_LEASE_SECONDS,
        NOT_HANDED_BACK,
        DatabaseUnavailableError,
        run_stage,
    )

    if queue.workers < 1:
        raise fail("--workers must be at least 1")

    engine = open_engine(ctx)
    try:
        with progress(name) as advance:
            summary = run_stage(
                engine,
                STAGES[name].stage,
                params,
                workers=queue.workers,
                subjects=queue.subjects or None,
                limit=queue.limit,
                force=queue.force,
                retry_failed=queue.retry_failed,
                max_attempts=queue.max_attempts,
                progress=advance,
                on_due=advance.set_total,
            )
    except KeyboardInterrupt as interrupt:
        held = [n for n in getattr(interrupt, "__notes__", ()) if n.startswith(NOT_HANDED_BACK)]
        if held:
            typer.secho(
                f"{name}: interrupted; {held[0]}: they go back to the queue when their leases "
                f"expire (within {DEFAULT_LEASE_SECONDS:.0f} s), then run the command again",
                err=True,
            )
        else:
            typer.secho(f"{name}: interrupted; in-flight units were handed back", err=True)
        raise typer.Exit(130) from None
    except DatabaseUnavailableError as error:
        raise fail(f"{name}: {error}; run the command again to finish", code=1) from None
    times = sorted(summary.compute_seconds)
    median = f", median compute {times[len(times) // 2]:.3f} s" if times else ""
    typer.echo(
        f"{name}: {summary.done} done, {summary.failed} failed"
        f"{f', {summary.lost} taken over' if summary.lost else ''} "
        f"({summary.due} were due) in {summary.seconds:.1f} s{median}"
    )
    if not summary.due:
        reasons = explain_queue(engine, name, queue.subjects).reasons()
        reasons = [r for r in reasons if not r.startswith("unknown subject ids")]
        typer.echo(f"  nothing was due: {'; '.join(reasons) or 'no subjects ingested yet'}")
    for subject_id, error in summary.failures[:10]:
        typer.echo(f"  failed subject {subject_id}: {error}")
    if summary.failed > 10:
        typer.echo(f"  … and {summary.failed - 10} more (gzbcat status lists them)")
    return summary.failed


def _run_stages(
    ctx: typer.Context,
    names: list[str],
    method: Method,
    queue: _Queue,
    max_volunteers: int | None,
    bootstrap: int = 0,
) -> None:
    """Run the named stages in order with their default parameters for ``method``; exit 1 at
    the end if any unit failed or any asked-for subject was unknown."""
    from gzbcat.stages.registry import STAGES

    failed = _check_subjects(open_engine(ctx), queue.subjects)
    for name in names:
        params = STAGES[name].make_params(method)
        if name == "aggregate":
            params = replace(params, max_volunteers=max_volunteers, bootstrap=bootstrap)
        failed += _run_stage_command(ctx, name, params, queue)
    exit_for_failures(failed)


def _stages_command(names: list[str] | None, summary: str) -> Callable[..., None]:
    """A command running the named per-subject stages (None: every stage, in order) with the
    options they all share."""

    def command(
        ctx: typer.Context,
        method: MethodOption = Method.CORRECTED,
        workers: WorkersOption = 1,
        subjects: SubjectsOption = None,
        subjects_file: SubjectsFileOption = None,
        limit: LimitOption = None,
        force: ForceOption = False,
        retry_failed: RetryOption = False,
        max_volunteers: MaxVolunteersOption = "30",
        bootstrap: BootstrapOption = 0,
        max_attempts: MaxAttemptsOption = 3,
    ) -> None:
        from gzbcat.stages.registry import STAGES

        asked = _subjects(subjects, subjects_file)
        queue = _Queue(workers, asked, limit, force, retry_failed, max_attempts)
        chosen = list(STAGES) if names is None else names
        _run_stages(ctx, chosen, method, queue, _max_volunteers(max_volunteers), bootstrap)

    command.__doc__ = summary
    if names is not None and "aggregate" not in names:  # the options only mean something there
        signature = inspect.signature(command)
        aggregate_only = ("max_volunteers", "bootstrap")
        command.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[p for p in signature.parameters.values() if p.name not in aggregate_only]
        )
    return command


def tune_command(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Option(
            "--source",
            metavar="<aggregate|best-individual|both>",
            help="Which models to tune (best_individual is accepted too).",
            callback=_tune_source,
        ),
    ] = "both",
    method: MethodOption = Method.CORRECTED,
    max_iterations: Annotated[
        int | None,
        typer.Option("--max-iterations", help="L-BFGS-B iterations of the full stage.", min=1),
    ] = None,
    starts: Annotated[
        int, typer.Option("--starts", help="Starts per fit (K − 1 jittered); best kept.", min=1)
    ] = 1,
    workers: WorkersOption = 1,
    subjects: SubjectsOption = None,
    subjects_file: SubjectsFileOption = None,
    limit: LimitOption = None,
    force: ForceOption = False,
    retry_failed: RetryOption = False,
    max_attempts: MaxAttemptsOption = 3,
) -> None:
    """Fit aggregate and/or best-individual models to their images (resumable)."""
    from gzbcat.stages.registry import tune_params
    from gzbcat.stages.tune import SOURCES

    # best-individual as the command spells it; best_individual as the model kind is stored
    tuned = TuneSource(source)
    chosen = list(SOURCES) if tuned is TuneSource.BOTH else [tuned.value.replace("-", "_")]
    asked = _subjects(subjects, subjects_file)
    queue = _Queue(workers, asked, limit, force, retry_failed, max_attempts)
    failed = _check_subjects(open_engine(ctx), queue.subjects)
    for name in chosen:
        params = tune_params(name, method, max_iterations=max_iterations, starts=starts)
        failed += _run_stage_command(ctx, f"tune-{name.replace('_', '-')}", params, queue)
    exit_for_failures(failed)


def register(app: typer.Typer) -> None:
    """Add ``aggregate``, ``best-individual``, ``tune`` and ``run`` to ``app``."""
    app.command("aggregate")(
        _stages_command(
            ["aggregate"],
            "Cluster each subject's volunteer drawings into an aggregate model (resumable).",
        )
    )
    app.command("best-individual")(
        _stages_command(
            ["best-individual"],
            "Pick each subject's volunteer model that fits the image best (resumable).",
        )
    )
    app.command("tune")(tune_command)
    app.command("run")(
        _stages_command(None, "Run every stage in order (each resumable; done units are skipped).")
    )
