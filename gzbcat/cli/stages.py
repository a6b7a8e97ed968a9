"""The per-subject stages: ``aggregate``, ``best-individual``, ``tune`` and ``run``.

Each maps the common options onto :func:`gzbcat.stages.runner.run_stage` with the stage's
parameters from :mod:`gzbcat.stages.registry`, and prints one line per stage.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
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

    def __post_init__(self) -> None:
        if self.workers > 1 and sys.stderr.isatty():
            # The progress bar draws from a thread, so workers will come from the fork
            # server (gzbcat.stages.workers): it imports the stages while this process does.
            from gzbcat.stages.workers import start_worker_server

            start_worker_server()


def _run_stage_command(ctx: typer.Context, name: str, params: Any, queue: _Queue) -> int:
    """Run one stage and print its line; return how many units failed."""
    if queue.workers < 1:
        raise fail("--workers must be at least 1")
    from gzbcat.stages.registry import STAGES
    from gzbcat.stages.runner import DatabaseUnavailableError, run_stage

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
            )
    except KeyboardInterrupt:
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
    for subject_id, error in summary.failures[:10]:
        typer.echo(f"  failed subject {subject_id}: {error}")
    if summary.failed > 10:
        typer.echo(f"  … and {summary.failed - 10} more (gzbcat status lists them)")
    return summary.failed


def _run_stages(ctx: typer.Context, names: list[str], method: Method, queue: _Queue) -> None:
    """Run the named stages in order with their default parameters for ``method``; exit 1 at
    the end if any unit failed."""
    from gzbcat.stages.registry import STAGES

    failed = sum(
        _run_stage_command(ctx, name, STAGES[name].make_params(method), queue) for name in names
    )
    exit_for_failures(failed)


def _stages_command(names: list[str] | None, summary: str) -> Callable[..., None]:
    """A command running the named per-subject stages (None: every stage, in order) with the
    options they all share."""

    def command(
        ctx: typer.Context,
        method: MethodOption = Method.CORRECTED,
        workers: WorkersOption = 1,
        subjects: SubjectsOption = None,
        limit: LimitOption = None,
        force: ForceOption = False,
        retry_failed: RetryOption = False,
        max_attempts: MaxAttemptsOption = 3,
    ) -> None:
        queue = _Queue(workers, subjects, limit, force, retry_failed, max_attempts)
        from gzbcat.stages.registry import STAGES

        _run_stages(ctx, list(STAGES) if names is None else names, method, queue)

    command.__doc__ = summary
    return command


def tune_command(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Option("--source", help="Which models to tune: aggregate, best-individual or both."),
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
    limit: LimitOption = None,
    force: ForceOption = False,
    retry_failed: RetryOption = False,
    max_attempts: MaxAttemptsOption = 3,
) -> None:
    """Fit aggregate and/or best-individual models to their images (resumable)."""
    queue = _Queue(workers, subjects, limit, force, retry_failed, max_attempts)
    from gzbcat.stages.registry import tune_params
    from gzbcat.stages.tune import SOURCES

    # best-individual as the command spells it; best_individual as the model kind is stored
    chosen = list(SOURCES) if source == "both" else [source.replace("-", "_")]
    if any(s not in SOURCES for s in chosen):
        raise fail(f"--source must be aggregate, best-individual or both, not {source!r}")
    failed = 0
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
