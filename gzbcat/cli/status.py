"""Where the database stands: ``init`` brings its schema to this version, ``status`` counts it."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from gzbcat.cli.common import open_engine

__all__ = ["format_status", "init_command", "status_command"]


def init_command(ctx: typer.Context) -> None:
    """Create the database schema, or upgrade it to this version of gzbcat."""
    from gzbcat.db.engine import current_revision, head_revision, upgrade

    engine = open_engine(ctx, check=False)
    before = current_revision(engine)
    notes = upgrade(engine)
    head = head_revision()
    url = engine.url.render_as_string()
    if before == head:
        typer.echo(f"{url}: schema already at revision {head}")
    else:
        typer.echo(f"{url}: schema upgraded from {before or 'nothing'} to revision {head}")
    for note in notes:
        typer.secho(f"warning: {note}", err=True, fg=typer.colors.YELLOW)


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
    if counts["running_runs"]:
        lines.append(f"runs going on:   {counts['running_runs']}")
    if counts["n_interrupted_runs"]:
        lines.append(
            f"interrupted runs: {counts['n_interrupted_runs']} (never finished; re-running "
            "the command finishes their work)"
        )
        for run in counts["interrupted_runs"]:
            lines.append(
                f"  run {run['run_id']} {run['stage']} started {run['started_at'][:19]} on "
                f"{run['host']} (pid {run['pid']}): {run['units_done']} units done, "
                f"{run['units_failed']} failed; {run['interrupted']}"
            )
    if counts["ingest_errors"]:
        lines.append(f"ingest problems: {counts['ingest_errors']} (see table ingest_errors)")
    return "\n".join(lines)


def status_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Counts of subjects, images, classifications, models and stage units."""
    from gzbcat.stages.status import status as collect

    counts = collect(open_engine(ctx))
    typer.echo(json.dumps(counts, indent=2) if as_json else format_status(counts))
