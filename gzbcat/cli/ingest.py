"""``gzbcat ingest``: load Zooniverse exports and subject files into the database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gzbcat.cli.common import (
    MethodOption,
    count_lines,
    exit_for_failures,
    fail,
    open_engine,
    print_summary,
    progress,
)
from gzbcat.model import Method

__all__ = ["ingest_app", "register"]

ingest_app = typer.Typer(
    help="Load Zooniverse exports and subject files into the database.", no_args_is_help=True
)


def _rows(export: Path) -> int | None:
    """An export's rows, counted fast, for the progress total."""
    lines = count_lines(export)
    return None if lines is None else max(lines - 1, 0)


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
    download: Annotated[
        bool,
        typer.Option(
            "--download",
            help="First fetch each frame-0 file that `locations` names by URL into --files "
            "(created if missing); files already there with the server's size are skipped.",
        ),
    ] = False,
    download_workers: Annotated[
        int,
        typer.Option("--download-workers", min=1, max=32, help="Parallel downloads."),
    ] = 4,
) -> None:
    """Ingest a subject export and each subject's frame-0 difference file."""
    from gzbcat.stages.ingest import ingest_subjects
    from gzbcat.zooniverse.exports import SUBJECT_REQUIRED_COLUMNS, ExportError, check_columns

    if download:
        if files is None:
            raise fail("--download needs --files: the folder to download the subject files into")
        try:
            check_columns(export, SUBJECT_REQUIRED_COLUMNS)
        except ExportError as error:
            raise fail(str(error)) from None
        try:
            files.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise fail(f"--files {files}: cannot create it: {error.strerror or error}") from None
    if files is not None and not files.is_dir():
        raise fail(f"--files {files}: no such folder")
    engine = open_engine(ctx)
    unavailable = None
    try:
        if download and files is not None:
            unavailable = _download_subject_files(export, files, download_workers)
        with progress("subjects", _rows(export)) as advance:
            summary = ingest_subjects(
                engine, export, files, progress=advance, unavailable=unavailable
            )
    except ExportError as error:
        raise fail(str(error)) from None
    print_summary(f"Ingested subjects from {export}", summary)
    exit_for_failures(summary.n_failed or len(unavailable or {}))


def _download_subject_files(export: Path, files: Path, workers: int) -> dict[str, str]:
    """Fetch the export's frame-0 files into ``files``; print what happened; return the URLs
    that failed, with the reason (ingest records each as a problem of its subjects)."""
    from gzbcat.zooniverse.download import download_files, plan_downloads

    plan = plan_downloads(export, files)
    with progress("downloads", total=len(plan.downloads)) as advance:
        report = download_files(
            plan.downloads, workers=workers, progress=advance, refused=plan.refused
        )
    typer.secho(f"Downloaded subject files into {files}", bold=True)
    typer.echo(f"  downloaded: {report.downloaded} ({report.bytes_downloaded / 1e6:.1f} MB)")
    typer.echo(f"  already present: {report.already_present}")
    if report.failures:
        typer.secho(
            f"  failed: {report.n_failed} file(s) of {report.n_failed_subjects} subject(s) "
            "(named under problems below)",
            fg="yellow",
        )
    return report.unavailable()


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
    with progress("fitting metadata") as advance:
        summary = ingest_fitting_metadata(engine, paths, progress=advance)
    print_summary("Ingested fitting metadata", summary)
    exit_for_failures(summary.n_failed)


def _check_workflow_version(value: str | None) -> str | None:
    from gzbcat.zooniverse.exports import version_key

    if value is not None:
        try:
            version_key(value)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
    return value


@ingest_app.command("classifications")
def ingest_classifications_command(
    ctx: typer.Context,
    export: Annotated[Path, typer.Argument(help="Zooniverse classification export (CSV).")],
    workflow_id: Annotated[
        int | None, typer.Option("--workflow-id", help="Keep only this workflow's rows.")
    ] = None,
    min_workflow_version: Annotated[
        str | None,
        typer.Option(
            "--min-workflow-version",
            help="Keep rows of this version or later (61.107).",
            callback=_check_workflow_version,
        ),
    ] = None,
    method: MethodOption = Method.CORRECTED,
) -> None:
    """Stream a classification export into the database, parsing each drawing."""
    from gzbcat.stages.ingest import ingest_classifications
    from gzbcat.zooniverse.exports import ExportError

    engine = open_engine(ctx)
    try:
        with progress("classifications", _rows(export)) as advance:
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
    print_summary(f"Ingested classifications from {export}", summary)
    exit_for_failures(summary.n_failed)


def register(app: typer.Typer) -> None:
    """Add the ``ingest`` group to ``app``."""
    app.add_typer(ingest_app, name="ingest")
