"""``gzbcat demo``: run :func:`gzbcat.demo.run_demo` and print its story, truth beside results."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from gzbcat.cli.common import fail, print_summary
from gzbcat.cli.status import format_status

__all__ = ["demo_command", "format_comparison", "register"]


def format_comparison(rows: list[dict[str, Any]]) -> str:
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


def demo_command(
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
        print_summary(title, summary)
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
    if result.figures:
        typer.secho("\nFigures", bold=True)
        for path in result.figures:
            typer.echo(f"  {path}")
    elif result.figures_missing:
        typer.echo(f"\nFigures: {result.figures_missing}")
    typer.secho(f"\nStatus of {result.db_url}", bold=True)
    typer.echo(format_status(result.status))
    typer.echo(f"\nDone in {result.seconds:.1f} s. Explore: gzbcat --db {result.db_url} status")


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to ``app``."""
    app.command("demo")(demo_command)
