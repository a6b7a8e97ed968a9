"""``gzbcat simulate``: a thin Typer wrapper over :func:`gzbcat.simulate.simulate`.

The main app adds it with :func:`register`; it needs no database.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from gzbcat.cli.common import OfflineCommand, fail

__all__ = ["register", "simulate_command"]


def simulate_command(
    outdir: Annotated[
        Path,
        typer.Argument(help="Folder to write the synthetic export into (created if needed)."),
    ],
    galaxies: Annotated[int, typer.Option(help="Number of simulated subjects.", min=0)] = 12,
    volunteers: Annotated[
        int, typer.Option(help="Classifications per subject, each by another volunteer.", min=0)
    ] = 30,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed gives byte-identical files.")
    ] = 0,
    like: Annotated[
        Path | None,
        typer.Option(
            help="Galaxy Builder folder whose real subjects lend image sizes, PSFs, masks and "
            "noise levels. Default: ../shared/data/galaxy-builder when present.",
            file_okay=False,
        ),
    ] = None,
    builtin: Annotated[
        bool,
        typer.Option(
            "--builtin",
            help="Ignore real subjects: built-in Moffat PSF and 100–140 px images.",
        ),
    ] = False,
    hart_table: Annotated[
        Path | None,
        typer.Option(
            "--hart-table",
            metavar="CSV",
            dir_okay=False,
            help="The Hart et al. (2017) table (../shared/data/external/"
            "hart2017-gz2-sparcfire.csv): a galaxy borrowing a real subject takes that "
            "galaxy's spiral pitch angle from it. Default: random pitch angles.",
        ),
    ] = None,
    repeats: Annotated[
        int,
        typer.Option(
            "--repeats",
            metavar="K",
            min=0,
            help="Show the first K galaxies twice, as Galaxy Builder's validation set did: "
            "a second subject with the same dr7objid, a new observation of the same galaxy "
            "and its own volunteers (queries/validation_pairs.sql pairs them).",
        ),
    ] = 0,
) -> None:
    """Write a synthetic sample with known truth, in Zooniverse's export format."""
    from gzbcat.simulate import simulate

    started = time.perf_counter()
    try:
        summary = simulate(
            outdir,
            galaxies=galaxies,
            volunteers=volunteers,
            seed=seed,
            like=like,
            real_subjects=not builtin,
            hart_table=hart_table,
            repeats=repeats,
        )
    except (ValueError, OSError) as error:
        raise fail(str(error)) from None
    seconds = time.perf_counter() - started
    counts = summary.n_components
    typer.echo(f"simulated {len(summary.subject_ids)} galaxies into {summary.outdir}")
    if repeats:
        typer.echo(f"  of which {repeats} show an earlier galaxy again (same dr7objid)")
    typer.echo(
        f"  truth: {counts['disk']} disks, {counts['bulge']} bulges, {counts['bar']} bars, "
        f"{counts['arms']} arms"
    )
    typer.echo(
        f"  classifications: {summary.n_classifications} "
        f"({summary.n_empty} empty, {summary.n_malformed} malformed on purpose)"
    )
    typer.echo(f"  images: {summary.image_source}")
    if hart_table is not None:
        typer.echo(
            f"  pitch angles: {summary.n_hart_pitches} of {len(summary.subject_ids)} galaxies "
            f"from {hart_table.name}, the others random"
        )
    typer.echo(
        "  files: subjects.csv, classifications.csv, truth.json, subjects/, fitting-metadata/"
    )
    typer.echo(f"  {seconds:.1f} s")


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command to ``app`` (the main CLI calls this)."""
    app.command("simulate", cls=OfflineCommand)(simulate_command)
