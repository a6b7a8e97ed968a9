"""``gzbcat demo``: run :func:`gzbcat.demo.run_demo` and print its story, truth beside results."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gzbcat.cli.common import fail, print_summary
from gzbcat.cli.status import format_status
from gzbcat.settings import DEFAULT_DATABASE_URL, DEMO_DATABASE_URL, given_database_url

if TYPE_CHECKING:  # pragma: no cover - typing only; gzbcat.demo loads the database layer
    from gzbcat.demo import PitchAgreement

__all__ = [
    "demo_command",
    "format_comparison",
    "format_pitch_agreement",
    "junk_note",
    "register",
]


def format_comparison(rows: list[dict[str, Any]]) -> str:
    """The demo's table: truth beside what the stages made of the volunteers' drawings."""

    def num(value: Any, fmt: str) -> str:
        return "—".rjust(len(format(0, fmt))) if value is None else format(value, fmt)

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


def junk_note(parse_errors: int, deliberate: int) -> str:
    """What the demo says about its parse errors: the simulator writes malformed rows on
    purpose, and any beyond those would be a real problem."""
    if parse_errors == deliberate:
        return "the simulator's deliberate junk rows, to show they are recorded and skipped"
    return (
        f"{deliberate} are the simulator's deliberate junk rows; the others are not expected, "
        "see the ingest_errors table"
    )


def _demo_db_url(ctx: typer.Context, own: str | None) -> tuple[str, str]:
    """The database the demo writes, and what named it.

    The demo's own ``--db`` wins; then the URL the app's callback took from ``gzbcat --db`` or
    ``GZBCAT_DATABASE_URL``; only when neither names one does the demo use its own file,
    :data:`~gzbcat.settings.DEMO_DATABASE_URL`, rather than the default catalogue.
    """
    if own:
        return own, "demo --db"
    root = ctx.find_root()
    root_db = root.params.get("db")
    if root_db:
        from_env = getattr(root.get_parameter_source("db"), "name", None) == "ENVIRONMENT"
        return root_db, "GZBCAT_DATABASE_URL" if from_env else "gzbcat --db"
    named = given_database_url()
    if named:  # an app without the root option (the environment is read all the same)
        return named, "GZBCAT_DATABASE_URL"
    obj_url = getattr(ctx.obj, "db_url", None)
    if obj_url and obj_url != DEFAULT_DATABASE_URL:  # named some other way than the above
        return obj_url, "--db"
    return DEMO_DATABASE_URL, "default"


def demo_command(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="URL",
            help="The demo's SQLite database, as gzbcat --db (which it overrides); replaced "
            "if it holds only simulated subjects. Default: GZBCAT_DATABASE_URL, else "
            f"{DEMO_DATABASE_URL}.",
            show_default=False,
        ),
    ] = None,
    galaxies: Annotated[int, typer.Option(help="Simulated subjects.", min=1)] = 12,
    volunteers: Annotated[int, typer.Option(help="Classifications per subject.", min=1)] = 30,
    seed: Annotated[int, typer.Option(help="Random seed of the simulation.")] = 0,
    workers: Annotated[int, typer.Option(help="Processes per stage.", min=1)] = 2,
    keep_sample: Annotated[
        Path | None,
        typer.Option(
            "--keep-sample",
            metavar="DIR",
            file_okay=False,
            help="Write the simulated sample (exports, subject files, truth.json) into DIR and "
            "keep it. Without it the sample goes to a temporary folder removed at the end.",
        ),
    ] = None,
) -> None:
    """Simulate a sample, run every stage on it into SQLite, and compare with the truth."""
    from gzbcat.demo import DemoError, run_demo

    db_url, named_by = _demo_db_url(ctx, db)
    try:
        result = run_demo(
            db_url,
            galaxies=galaxies,
            volunteers=volunteers,
            seed=seed,
            workers=workers,
            keep_sample=keep_sample,
        )
    except DemoError as error:
        given = "" if named_by == "default" else f" (the database is from {named_by})"
        raise fail(f"{error}{given}") from None
    except KeyboardInterrupt:
        kept = f"the sample stays in {keep_sample}" if keep_sample else "its sample was removed"
        typer.secho(f"demo: interrupted; {kept}", err=True)
        raise typer.Exit(130) from None
    simulation = result.simulation
    if result.sample_kept:
        typer.echo(f"Simulated sample (with truth.json): {result.sample_dir}")
    else:
        typer.echo(
            "Simulated sample: in a temporary folder, removed at the end "
            "(--keep-sample DIR keeps it)"
        )
    if result.hart_table is not None and simulation is not None:
        typer.echo(
            f"  {simulation.n_hart_pitches} of {len(simulation.subject_ids)} galaxies took the "
            f"spiral pitch angle of their real galaxy from {result.hart_table.name}"
        )
    for title, summary in result.ingests:
        notes = None
        if simulation is not None and getattr(summary, "parse_errors", 0):
            notes = {"parse_errors": junk_note(summary.parse_errors, simulation.n_malformed)}
        print_summary(title, summary, notes)
    typer.secho("Stages", bold=True)
    for stage in result.stages:
        times = sorted(stage.compute_seconds)
        median = f", median {times[len(times) // 2]:.3f} s per subject" if times else ""
        typer.echo(f"  {stage.stage}: {stage.done} done, {stage.failed} failed{median}")
    typer.secho("\nTruth against results", bold=True)
    typer.echo(format_comparison(result.comparison))
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
    typer.echo(format_pitch_agreement(result.pitch, result.hart_table is not None))
    if result.figures:
        typer.secho("\nFigures", bold=True)
        for path in result.figures:
            typer.echo(f"  {path}")
    elif result.figures_missing:
        typer.echo(f"\nFigures: {result.figures_missing}")
    typer.secho(f"\nStatus of {result.db_url}", bold=True)
    typer.echo(format_status(result.status))
    typer.echo(f"\nDone in {result.seconds:.1f} s. Explore: gzbcat --db {result.db_url} status")


def format_pitch_agreement(pitch: PitchAgreement | None, like_for_like: bool) -> str:
    """The line that compares the catalogue's pitch angles with Hart et al. (2017)."""
    if pitch is None:
        return (
            "\nPitch angles: the Hart et al. (2017) table is not in the shared data, so the "
            "simulated pitch angles are random and there is nothing real to compare them with"
        )
    if pitch.n == 0:
        return "\nPitch angle vs Hart et al. (2017): no galaxy has both"
    r = "—" if pitch.pearson_r is None else f"{pitch.pearson_r:.3f}"
    source = (
        "the values the simulated arms were drawn from"
        if like_for_like
        else "the simulated arms were drawn at random: expect no correlation"
    )
    return (
        f"\nPitch angle, catalogue vs Hart et al. (2017) ({source}):\n"
        f"  Pearson r = {r} over N = {pitch.n} galaxies with arms; median |difference| "
        f"{pitch.median_abs_difference_deg:.1f}°"
    )


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to ``app``."""
    app.command("demo")(demo_command)
