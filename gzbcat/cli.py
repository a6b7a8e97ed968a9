"""The ``gzbcat`` command line: thin Typer commands over the stage functions.

Each command maps its options onto one function call and prints a one-screen summary; domain
errors become a readable message and a non-zero exit code.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from gzbcat.cli_common import fail, open_engine
from gzbcat.settings import DEFAULT_DATABASE_URL, database_url

app = typer.Typer(
    name="gzbcat",
    help="Turn Galaxy Builder's Zooniverse exports into a queryable catalogue of galaxy models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
ingest_app = typer.Typer(
    help="Load Zooniverse exports and subject files into the database.", no_args_is_help=True
)
app.add_typer(ingest_app, name="ingest")

METHOD_HELP = (
    "'corrected' (the published method with its known bugs fixed) or 'reference' "
    "(its quirks reproduced, for one-to-one comparison)"
)


@dataclass
class _State:
    db_url: str


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="GZBCAT_DATABASE_URL",
            help=f"Database URL (SQLAlchemy form). Default: {DEFAULT_DATABASE_URL}",
            show_envvar=True,
        ),
    ] = None,
) -> None:
    ctx.obj = _State(db_url=database_url(db))


@contextmanager
def _progress(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal; silence when the output is redirected."""
    if not sys.stderr.isatty():
        yield lambda _n: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


def _print_summary(title: str, summary: Any) -> None:
    typer.secho(title, bold=True)
    values = summary.as_dict()
    problems = values.pop("problems")
    n_problems = values.pop("n_problems")
    values.pop("source", None)
    for key, value in values.items():
        if value:
            typer.echo(f"  {key.replace('_', ' ')}: {value}")
    if n_problems:
        typer.secho(f"  problems: {n_problems} (recorded in ingest_errors)", fg="yellow")
        for message in problems:
            typer.echo(f"    - {message}")
        if n_problems > len(problems):
            typer.echo(f"    … and {n_problems - len(problems)} more")


@app.command()
def init(ctx: typer.Context) -> None:
    """Create the database schema, or upgrade it to this version of gzbcat."""
    from gzbcat.db.engine import current_revision, head_revision, upgrade

    engine = open_engine(ctx, check=False)
    before = current_revision(engine)
    upgrade(engine)
    head = head_revision()
    url = engine.url.render_as_string()
    if before == head:
        typer.echo(f"{url}: schema already at revision {head}")
    else:
        typer.echo(f"{url}: schema upgraded from {before or 'nothing'} to revision {head}")


@ingest_app.command("subjects")
def ingest_subjects_command(
    ctx: typer.Context,
    export: Annotated[Path, typer.Argument(help="Zooniverse subject export (CSV).")],
    files: Annotated[
        Path | None,
        typer.Option(
            "--files",
            help="Folder holding the subject files that `locations` names "
            "(default: the export's folder).",
        ),
    ] = None,
) -> None:
    """Ingest a subject export and each subject's frame-0 difference file."""
    from gzbcat.stages.ingest import ingest_subjects
    from gzbcat.zooniverse.exports import ExportError

    engine = open_engine(ctx)
    try:
        with _progress("subjects") as advance:
            summary = ingest_subjects(engine, export, files, progress=advance)
    except ExportError as error:
        raise fail(str(error)) from None
    _print_summary(f"Ingested subjects from {export}", summary)


@ingest_app.command("fitting-metadata")
def ingest_fitting_metadata_command(
    ctx: typer.Context,
    paths: Annotated[
        list[Path], typer.Argument(help="<subject_id>.json files, or folders of them.")
    ],
) -> None:
    """Ingest per-subject fitting metadata: image, sigma, mask and PSF (replacing others)."""
    from gzbcat.stages.ingest import ingest_fitting_metadata

    engine = open_engine(ctx)
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise fail(f"no such file or folder: {', '.join(map(str, missing))}")
    with _progress("fitting metadata") as advance:
        summary = ingest_fitting_metadata(engine, paths, progress=advance)
    _print_summary("Ingested fitting metadata", summary)


@ingest_app.command("classifications")
def ingest_classifications_command(
    ctx: typer.Context,
    export: Annotated[Path, typer.Argument(help="Zooniverse classification export (CSV).")],
    workflow_id: Annotated[
        int | None, typer.Option("--workflow-id", help="Keep only this workflow's rows.")
    ] = None,
    min_workflow_version: Annotated[
        str | None,
        typer.Option("--min-workflow-version", help="Keep rows of this version or later (61.107)."),
    ] = None,
    method: Annotated[str, typer.Option("--method", help=METHOD_HELP)] = "corrected",
) -> None:
    """Stream a classification export into the database, parsing each drawing."""
    from gzbcat.stages.ingest import ingest_classifications
    from gzbcat.zooniverse.annotations import METHODS
    from gzbcat.zooniverse.exports import ExportError

    if method not in METHODS:
        raise fail(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    engine = open_engine(ctx)
    try:
        with _progress("classifications") as advance:
            summary = ingest_classifications(
                engine,
                export,
                method=method,
                workflow_id=workflow_id,
                min_workflow_version=min_workflow_version,
                progress=advance,
            )
    except ExportError as error:
        raise fail(str(error)) from None
    _print_summary(f"Ingested classifications from {export}", summary)


def _run_stage_command(
    ctx: typer.Context,
    name: str,
    *,
    method: str,
    workers: int,
    subjects: list[int] | None,
    limit: int | None,
    force: bool,
    retry_failed: bool,
    params: Any = None,
) -> None:
    from gzbcat.stages.registry import STAGES
    from gzbcat.stages.runner import run_stage

    if method not in ("corrected", "reference"):
        raise fail(f"--method must be corrected or reference, not {method!r}")
    if workers < 1:
        raise fail("--workers must be at least 1")
    entry = STAGES[name]
    engine = open_engine(ctx)
    try:
        with _progress(name) as advance:
            summary = run_stage(
                engine,
                entry.stage,
                params if params is not None else entry.make_params(method),
                workers=workers,
                subjects=subjects or None,
                limit=limit,
                force=force,
                retry_failed=retry_failed,
                progress=advance,
            )
    except KeyboardInterrupt:
        typer.secho(f"{name}: interrupted; in-flight units were handed back", err=True)
        raise typer.Exit(130) from None
    times = sorted(summary.compute_seconds)
    median = f", median compute {times[len(times) // 2]:.3f} s" if times else ""
    typer.echo(
        f"{name}: {summary.done} done, {summary.failed} failed"
        f"{f', {summary.lost} taken over' if summary.lost else ''} "
        f"({summary.due} were due) in {summary.seconds:.1f} s{median}"
    )
    for subject_id, error in summary.failures[:10]:
        typer.echo(f"  failed subject {subject_id}: {error}")


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
MethodOption = Annotated[str, typer.Option("--method", help=METHOD_HELP)]


def _add_stage_command(name: str, summary: str) -> None:
    """Register ``gzbcat <name>``: one per-subject stage with the common options."""

    def command(
        ctx: typer.Context,
        method: MethodOption = "corrected",
        workers: WorkersOption = 1,
        subjects: SubjectsOption = None,
        limit: LimitOption = None,
        force: ForceOption = False,
        retry_failed: RetryOption = False,
    ) -> None:
        _run_stage_command(
            ctx,
            name,
            method=method,
            workers=workers,
            subjects=subjects,
            limit=limit,
            force=force,
            retry_failed=retry_failed,
        )

    command.__doc__ = summary
    app.command(name)(command)


_add_stage_command(
    "aggregate", "Cluster each subject's volunteer drawings into an aggregate model (resumable)."
)
_add_stage_command(
    "best-individual", "Pick each subject's volunteer model that fits the image best (resumable)."
)


@app.command("tune")
def tune_command(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Option("--source", help="Which models to tune: aggregate, best_individual or both."),
    ] = "both",
    method: MethodOption = "corrected",
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
) -> None:
    """Fit aggregate and/or best-individual models to their images (resumable)."""
    from gzbcat.stages.registry import tune_params
    from gzbcat.stages.tune import SOURCES

    chosen = list(SOURCES) if source == "both" else [source]
    if any(s not in SOURCES for s in chosen):
        raise fail(f"--source must be aggregate, best_individual or both, not {source!r}")
    for name in chosen:
        _run_stage_command(
            ctx,
            f"tune-{name.replace('_', '-')}",
            method=method,
            workers=workers,
            subjects=subjects,
            limit=limit,
            force=force,
            retry_failed=retry_failed,
            params=tune_params(name, method, max_iterations=max_iterations, starts=starts),
        )


@app.command("run")
def run_command(
    ctx: typer.Context,
    method: MethodOption = "corrected",
    workers: WorkersOption = 1,
    subjects: SubjectsOption = None,
    limit: LimitOption = None,
    force: ForceOption = False,
    retry_failed: RetryOption = False,
) -> None:
    """Run every stage in order (each resumable; done units are skipped)."""
    from gzbcat.stages.registry import STAGES

    for name in STAGES:
        _run_stage_command(
            ctx,
            name,
            method=method,
            workers=workers,
            subjects=subjects,
            limit=limit,
            force=force,
            retry_failed=retry_failed,
        )


def format_status(counts: dict[str, Any]) -> str:
    """The status counts as a short, readable block."""

    def joined(mapping: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(mapping.items())) or "none"

    lines = [
        f"subjects:        {counts['subjects']} "
        f"({counts['subjects_without_image']} without an image)",
        f"images:          {joined(counts['images'])} (by sigma source)",
        f"classifications: {joined(counts['classifications'])}",
        f"models:          {joined(counts['models'])}",
        f"volunteer parts: {joined(counts['volunteer_components'])}, "
        f"arms {counts['volunteer_arms']}",
    ]
    if counts["stage_units"]:
        for stage, states in sorted(counts["stage_units"].items()):
            lines.append(f"stage {stage}: {joined(states)}")
    else:
        lines.append("stages:          none run yet")
    for failure in counts["failures"]:
        lines.append(
            f"  failed {failure['stage']} subject {failure['subject_id']}: {failure['error']}"
        )
    if counts["ingest_errors"]:
        lines.append(f"ingest problems: {counts['ingest_errors']} (see table ingest_errors)")
    return "\n".join(lines)


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Counts of subjects, images, classifications, models and stage units."""
    from gzbcat.stages.status import status as collect

    counts = collect(open_engine(ctx))
    typer.echo(json.dumps(counts, indent=2) if as_json else format_status(counts))


def _format_comparison(rows: list[dict[str, Any]]) -> str:
    """The demo's table: truth beside what the stages made of the volunteers' drawings."""

    def num(value: Any, fmt: str) -> str:
        return "—" if value is None else format(value, fmt)

    def flag(truth: bool, found: Any) -> str:
        return ("y" if truth else "n") + "/" + ("—" if found is None else "y" if found else "n")

    lines = [
        "subject    disk Re true/agg/best/tuned   centre  roll   bulge bar   arms  "
        "pitch true/agg  χ²_ν",
        "           (px)                          (px)    (deg)  t/agg t/agg t/agg (deg)",
    ]
    for r in rows:
        lines.append(
            f"{r['subject_id']:<10} "
            f"{num(r['true_re'], '5.1f')}/{num(r.get('agg_re'), '5.1f')}/"
            f"{num(r.get('bi_re'), '5.1f')}/{num(r.get('tuned_re'), '5.1f')}       "
            f"{num(r.get('agg_centre_px'), '5.2f')}  {num(r.get('agg_roll_deg'), '5.1f')}  "
            f"{flag(r['has_bulge'], r.get('agg_bulge')):<5} "
            f"{flag(r['has_bar'], r.get('agg_bar')):<5} "
            f"{r['true_arms']}/{num(r.get('agg_arms'), 'd'):<3} "
            f"{num(r['true_pitch'], '4.1f')}/{num(r.get('agg_pitch'), '4.1f')}       "
            f"{num(r.get('tuned_chi2_nu'), '5.2f')}"
        )
    centre = [r["agg_centre_px"] for r in rows if r.get("agg_centre_px") is not None]
    roll = [r["agg_roll_deg"] for r in rows if r.get("agg_roll_deg") is not None]
    re_error = [
        abs(r["agg_re"] / r["true_re"] - 1) for r in rows if r.get("agg_re") and r["true_re"]
    ]
    tuned_error = [
        abs(r["tuned_re"] / r["true_re"] - 1) for r in rows if r.get("tuned_re") and r["true_re"]
    ]
    if tuned_error:
        lines.append(
            f"tuned disk Re vs truth (median over {len(tuned_error)}): "
            f"{100 * sorted(tuned_error)[len(tuned_error) // 2]:.1f} %"
        )
    if centre:
        lines.append(
            f"aggregate disk vs truth (median over {len(centre)}): centre "
            f"{sorted(centre)[len(centre) // 2]:.2f} px, roll {sorted(roll)[len(roll) // 2]:.1f}°, "
            f"Re {100 * sorted(re_error)[len(re_error) // 2]:.1f} %"
        )
    return "\n".join(lines)


@app.command()
def demo(
    db: Annotated[
        str, typer.Option("--db", help="Where the demo database goes (replaced if present).")
    ] = "sqlite:///gzbcat-demo.sqlite",
    galaxies: Annotated[int, typer.Option(help="Simulated subjects.", min=1)] = 12,
    volunteers: Annotated[int, typer.Option(help="Classifications per subject.", min=1)] = 30,
    seed: Annotated[int, typer.Option(help="Random seed of the simulation.")] = 0,
    workers: Annotated[int, typer.Option(help="Processes per stage.", min=1)] = 2,
) -> None:
    """Simulate a sample, run every stage on it into SQLite, and compare with the truth."""
    from gzbcat.demo import DemoError, run_demo

    try:
        result = run_demo(db, galaxies=galaxies, volunteers=volunteers, seed=seed, workers=workers)
    except DemoError as error:
        raise fail(str(error)) from None
    typer.echo(f"Simulated sample (with truth.json): {result.sample_dir}")
    for title, summary in result.ingests:
        _print_summary(title, summary)
    typer.secho("Stages", bold=True)
    for stage in result.stages:
        times = sorted(stage.compute_seconds)
        median = f", median {times[len(times) // 2]:.3f} s per subject" if times else ""
        typer.echo(f"  {stage.stage}: {stage.done} done, {stage.failed} failed{median}")
    typer.secho("\nTruth against results", bold=True)
    typer.echo(_format_comparison(result.comparison))
    catalogue = result.catalogue
    if catalogue is not None:
        from gzbcat.catalogue.query import format_result

        typer.secho("\nCatalogue", bold=True)
        if catalogue.imported is not None and catalogue.crossmatched is not None:
            typer.echo(
                f"  imported {catalogue.imported.table} ({catalogue.imported.n_rows} rows); "
                f"cross-matched {catalogue.crossmatched.n_matched} of "
                f"{catalogue.crossmatched.n_subjects} subjects within "
                f"{catalogue.crossmatched.radius_arcsec:g}″"
            )
        exported = catalogue.exported
        typer.echo(
            f"  exported {exported.n_rows} rows × {exported.n_columns} columns to {exported.path}"
        )
        if catalogue.query is not None and catalogue.query_file is not None:
            typer.echo(f"  gzbcat query {catalogue.query_file}:")
            typer.echo(format_result(catalogue.query, "table"))
    if result.figures:
        typer.secho("\nFigures", bold=True)
        for path in result.figures:
            typer.echo(f"  {path}")
    elif result.figures_missing:
        typer.echo(f"\nFigures: {result.figures_missing}")
    typer.secho(f"\nStatus of {result.db_url}", bold=True)
    typer.echo(format_status(result.status))
    typer.echo(f"\nDone in {result.seconds:.1f} s. Explore: gzbcat --db {result.db_url} status")


def _register_extensions() -> None:
    from gzbcat.catalogue.commands import register as register_catalogue
    from gzbcat.plots_cli import register as register_plots
    from gzbcat.simulate_cli import register as register_simulate

    register_simulate(app)
    register_catalogue(app)
    register_plots(app)


_register_extensions()
