"""Download the frame-0 subject files that a subject export names by URL.

A real Zooniverse subject export names each subject's frame-0 difference file by its URL in
``locations``; ingest looks the URL's file name up in the ``--files`` folder. This module fills
that folder:

- **a few at a time**: a small pool of threads (downloads wait on the network, not the CPU);
- **resumable**: a file already there whose size matches the server's ``Content-Length`` (asked
  with a ``HEAD`` request) is not fetched again; when the server gives no length, a non-empty
  file counts as done;
- **retried with backoff**: connection errors, timeouts, truncated bodies, HTTP 408, 429 and
  5xx are tried again after ``backoff_s · 2**k`` seconds (longer if the server's
  ``Retry-After`` asks); other 4xx answers are final;
- **atomic**: the body is written to ``<name>.part`` in the same folder, synced, and renamed
  over ``<name>`` only when every byte the server announced has arrived, so the final name
  never holds half a file (a ``.part`` left by a killed process is overwritten next time);
- **failures named**: each failed URL comes back with the subjects that need it and why.

Only ``http`` and ``https`` URLs are fetched (redirects included). The module is pure: it reads
the export and writes files, and touches no database.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import os
import ssl
import threading
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlparse

from gzbcat.zooniverse.exports import SubjectRow, read_subject_export

__all__ = [
    "DEFAULT_BACKOFF_S",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT_S",
    "DEFAULT_WORKERS",
    "Download",
    "DownloadFailure",
    "DownloadPlan",
    "DownloadReport",
    "DownloadStoppedError",
    "download_files",
    "plan_downloads",
    "url_file_name",
]

DEFAULT_WORKERS = 4
"""Parallel downloads: enough to hide latency without hammering one server."""
DEFAULT_RETRIES = 3
"""Extra attempts after the first, for failures that may pass (see the module docstring)."""
DEFAULT_BACKOFF_S = 1.0
"""Wait before the first retry, in seconds; doubled before each further one."""
DEFAULT_TIMEOUT_S = 60.0
"""Seconds a connection or a single read may take before the attempt counts as failed."""

_MAX_RETRY_AFTER_S = 60.0
_CHUNK_BYTES = 64 * 1024
_URL_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Download:
    """One file to fetch: its URL, where it goes, and the subjects whose frame 0 it is."""

    url: str
    path: Path
    subject_ids: tuple[int, ...]


@dataclass(frozen=True)
class DownloadFailure:
    """A URL that could not be fetched (or was refused before trying), and why."""

    url: str
    subject_ids: tuple[int, ...]
    reason: str

    def messages(self) -> list[str]:
        """One line per subject: ``subject 123: https://…/x.json: HTTP 404 Not Found``."""
        return [f"subject {s}: {self.url}: {self.reason}" for s in self.subject_ids]


@dataclass(frozen=True)
class DownloadPlan:
    """What an export asks for: files to fetch, and URLs refused before any request."""

    downloads: list[Download]
    refused: list[DownloadFailure]


@dataclass
class DownloadReport:
    """What a download run did: counts of files, bytes written, and the failures."""

    downloaded: int = 0
    already_present: int = 0
    bytes_downloaded: int = 0
    failures: list[DownloadFailure] = field(default_factory=list)

    @property
    def n_failed(self) -> int:
        """Failed files (a file shared by several subjects counts once)."""
        return len(self.failures)

    @property
    def n_failed_subjects(self) -> int:
        return len({s for failure in self.failures for s in failure.subject_ids})

    def unavailable(self) -> dict[str, str]:
        """URL → reason, for every URL whose file could not be fetched."""
        return {failure.url: failure.reason for failure in self.failures}


def url_file_name(url: str) -> str:
    """The file name a URL's file has in ``--files``: the last part of its path, as ingest
    looks it up (``https://host/a/b/c.json?x=1`` → ``c.json``)."""
    return Path(urlparse(url).path).name


def _is_url(location: str) -> bool:
    parsed = urlparse(location)
    return bool(parsed.scheme and parsed.netloc)


def plan_downloads(export: Path, files_dir: Path) -> DownloadPlan:
    """Read a subject export (streamed) and list the frame-0 files it names by URL.

    A URL shared by several subjects is fetched once. Locations that are not URLs (paths
    relative to ``files_dir``) need no download and are left out. Refused before any request:
    a URL of another scheme than http or https, a URL whose path names no file, and a URL whose
    file name is already taken by a different URL (both cannot live in one folder; the first
    one in the export keeps the name). Rows the export reader cannot type are left to ingest,
    which records them.

    Raises
    ------
    ExportError
        If the export cannot be opened or lacks a required column.
    """
    subjects_by_url: dict[str, list[int]] = {}
    for row in read_subject_export(Path(export)):
        if not isinstance(row, SubjectRow):
            continue
        location = row.locations.get("0")
        if location is None or not _is_url(location):
            continue
        subjects = subjects_by_url.setdefault(location, [])
        if row.subject_id not in subjects:
            subjects.append(row.subject_id)

    downloads: list[Download] = []
    refused: list[DownloadFailure] = []
    url_by_name: dict[str, str] = {}
    for url, subject_ids in subjects_by_url.items():
        subjects = tuple(subject_ids)
        scheme = urlparse(url).scheme.lower()
        name = url_file_name(url)
        if scheme not in _URL_SCHEMES:
            reason = f"only http and https URLs are downloaded, not {scheme}"
            refused.append(DownloadFailure(url, subjects, reason))
        elif name in ("", ".", "..") or urlparse(url).path.endswith("/"):
            refused.append(DownloadFailure(url, subjects, "the URL's path names no file"))
        elif name in url_by_name:
            reason = (
                f"its file name {name!r} is also that of {url_by_name[name]}, "
                "and one folder cannot hold both"
            )
            refused.append(DownloadFailure(url, subjects, reason))
        else:
            url_by_name[name] = url
            downloads.append(Download(url, Path(files_dir) / name, subjects))
    return DownloadPlan(downloads, refused)


# ------------------------------------------------------------------------- fetching


class DownloadStoppedError(Exception):
    """The caller's ``stop`` event was set: files in flight were abandoned, no half file kept."""


class _TruncatedBodyError(Exception):
    """The connection ended before the announced ``Content-Length`` arrived (retryable)."""


class _LocalWriteError(Exception):
    """The file could not be written here (not retried: the server is not at fault)."""


@dataclass(frozen=True)
class _Outcome:
    download: Download
    status: str  # "downloaded", "present" or "failed"
    n_bytes: int = 0
    reason: str = ""


def _opener() -> urllib.request.OpenerDirector:
    """An opener that speaks http and https only (no ``file:`` or ``ftp:``, even by redirect),
    honouring the usual proxy environment variables."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.UnknownHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    from gzbcat import __version__

    opener.addheaders = [("User-Agent", f"gzbcat/{__version__}")]
    return opener


def _content_length(headers: http.client.HTTPMessage) -> int | None:
    value = headers.get("Content-Length")
    try:
        length = int(value) if value is not None else None
    except ValueError:
        return None
    return length if length is not None and length >= 0 else None


def _retry_after_s(error: HTTPError) -> float | None:
    """Seconds the server asks to wait (``Retry-After``: seconds or an HTTP date)."""
    value = error.headers.get("Retry-After") if error.headers else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _describe(error: BaseException, timeout_s: float) -> str:
    """A one-line reason: ``HTTP 404 Not Found``, ``Connection refused``, ``timed out …``."""
    if isinstance(error, HTTPError):
        return f"HTTP {error.code} {error.reason}".rstrip()
    if isinstance(error, URLError):
        if not isinstance(error.reason, BaseException):
            return str(error.reason)
        error = error.reason
    if isinstance(error, TimeoutError):
        return f"timed out (nothing for {timeout_s:g} s)"
    if isinstance(error, http.client.IncompleteRead):
        return f"connection closed after {len(error.partial)} bytes, {error.expected} more due"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _is_retryable(error: BaseException) -> bool:
    if isinstance(error, HTTPError):
        return error.code in (408, 429) or error.code >= 500
    if isinstance(error, URLError):
        reason = error.reason
        return isinstance(reason, OSError) and not isinstance(reason, ssl.SSLCertVerificationError)
    if isinstance(error, http.client.InvalidURL):
        return False
    return isinstance(error, (_TruncatedBodyError, OSError, http.client.HTTPException))


def _remote_length(opener: urllib.request.OpenerDirector, url: str, timeout_s: float) -> int | None:
    """The server's ``Content-Length`` for ``url`` by a ``HEAD`` request; None if not given.

    Raises whatever the request raises; the caller then downloads the file (one HEAD only).
    """
    request = urllib.request.Request(url, method="HEAD")
    with opener.open(request, timeout=timeout_s) as response:
        return _content_length(response.headers)


def _fetch_once(
    opener: urllib.request.OpenerDirector,
    download: Download,
    timeout_s: float,
    stop: threading.Event,
) -> int:
    """One GET of ``download.url`` into ``<path>.part``, renamed over ``path`` when complete.

    Returns the number of bytes written. The ``.part`` file never survives a failed attempt.
    """
    part = download.path.with_name(download.path.name + ".part")
    with opener.open(download.url, timeout=timeout_s) as response:
        expected = _content_length(response.headers)
        received = 0
        try:
            try:
                out = part.open("wb")
            except OSError as error:
                raise _LocalWriteError(f"cannot write {part}: {error.strerror or error}") from None
            with out:
                while chunk := response.read(_CHUNK_BYTES):
                    if stop.is_set():
                        raise DownloadStoppedError
                    try:
                        out.write(chunk)
                    except OSError as error:
                        raise _LocalWriteError(
                            f"cannot write {part}: {error.strerror or error}"
                        ) from None
                    received += len(chunk)
                if expected is not None and received != expected:
                    raise _TruncatedBodyError(
                        f"connection closed after {received} of {expected} bytes"
                        if received < expected
                        else f"received {received} bytes, {expected} announced"
                    )
                try:
                    out.flush()
                    os.fsync(out.fileno())
                except OSError as error:
                    raise _LocalWriteError(
                        f"cannot write {part}: {error.strerror or error}"
                    ) from None
            try:
                os.replace(part, download.path)
            except OSError as error:
                raise _LocalWriteError(
                    f"cannot rename {part} to {download.path.name}: {error.strerror or error}"
                ) from None
        finally:
            with contextlib.suppress(OSError):
                part.unlink(missing_ok=True)
    return received


def _fetch(
    opener: urllib.request.OpenerDirector,
    download: Download,
    *,
    retries: int,
    backoff_s: float,
    timeout_s: float,
    stop: threading.Event,
) -> _Outcome:
    """Fetch one file unless it is already complete; retry what may pass; never raise
    (except :class:`DownloadStoppedError` once ``stop`` is set)."""
    if stop.is_set():
        raise DownloadStoppedError
    try:
        size = download.path.stat().st_size if download.path.is_file() else None
    except OSError:
        size = None
    if size:
        try:
            length = _remote_length(opener, download.url, timeout_s)
        except (OSError, http.client.HTTPException, ValueError) as error:
            if isinstance(error, HTTPError):
                error.close()  # no answer to HEAD: the GET below decides (and reports why)
        else:
            if length is None or length == size:
                return _Outcome(download, "present")

    attempts = retries + 1
    for attempt in range(1, attempts + 1):
        if stop.is_set():
            raise DownloadStoppedError
        try:
            n_bytes = _fetch_once(opener, download, timeout_s, stop)
            return _Outcome(download, "downloaded", n_bytes)
        except _LocalWriteError as error:
            return _Outcome(download, "failed", reason=str(error))
        except (_TruncatedBodyError, OSError, http.client.HTTPException, ValueError) as error:
            reason = _describe(error, timeout_s)
            delay = backoff_s * 2 ** (attempt - 1)
            if isinstance(error, HTTPError):
                asked = _retry_after_s(error)
                if asked is not None:
                    delay = max(delay, min(asked, _MAX_RETRY_AFTER_S))
                error.close()
            if not _is_retryable(error) or attempt == attempts:
                if attempt > 1:
                    reason += f" (after {attempt} attempts)"
                return _Outcome(download, "failed", reason=reason)
            if stop.wait(delay):
                raise DownloadStoppedError from None
    raise AssertionError("unreachable")  # pragma: no cover


def download_files(
    downloads: Sequence[Download],
    *,
    workers: int = DEFAULT_WORKERS,
    retries: int = DEFAULT_RETRIES,
    backoff_s: float | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Callable[[int], None] | None = None,
    refused: Iterable[DownloadFailure] = (),
    stop: threading.Event | None = None,
) -> DownloadReport:
    """Fetch ``downloads``, ``workers`` at a time, and report what happened.

    Parameters
    ----------
    downloads
        Files to fetch (from :func:`plan_downloads`); each ``path``'s folder must exist.
    workers
        Parallel downloads (threads), ≥ 1.
    retries
        Extra attempts for failures that may pass (connection errors, timeouts, truncated
        bodies, HTTP 408, 429, 5xx); 0 tries each file once.
    backoff_s
        Wait before the first retry, in seconds, doubled before each further one (None:
        :data:`DEFAULT_BACKOFF_S`, read at call time).
    timeout_s
        Seconds a connection or one read may take.
    progress
        Called with 1 as each file is finished (downloaded, present or failed).
    refused
        Failures found before any request (:attr:`DownloadPlan.refused`), carried into the
        report so that it names every failure.
    stop
        Set it from another thread to stop the run as an interrupt does (then
        :class:`DownloadStoppedError` is raised); the waits between retries are waits on it.

    Returns
    -------
    DownloadReport
        Failures in the order of ``refused`` then ``downloads``.

    A ``KeyboardInterrupt`` stops the run: files not started are left alone, files in
    flight are abandoned (their ``.part`` removed), and the interrupt is raised again.
    """
    if workers < 1:
        raise ValueError(f"workers must be ≥ 1, not {workers}")
    if retries < 0:
        raise ValueError(f"retries must be ≥ 0, not {retries}")
    backoff = DEFAULT_BACKOFF_S if backoff_s is None else backoff_s
    report = DownloadReport(failures=list(refused))
    if not downloads:
        return report
    opener = _opener()
    stop = threading.Event() if stop is None else stop
    order = {id(d): i for i, d in enumerate(downloads)}
    failed: list[_Outcome] = []
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gzbcat-download")
    try:
        futures = [
            executor.submit(
                _fetch,
                opener,
                download,
                retries=retries,
                backoff_s=backoff,
                timeout_s=timeout_s,
                stop=stop,
            )
            for download in downloads
        ]
        for future in as_completed(futures):
            outcome = future.result()
            if outcome.status == "downloaded":
                report.downloaded += 1
                report.bytes_downloaded += outcome.n_bytes
            elif outcome.status == "present":
                report.already_present += 1
            else:
                failed.append(outcome)
            if progress is not None:
                progress(1)
    except BaseException:
        stop.set()
        executor.shutdown(wait=True, cancel_futures=True)
        raise
    executor.shutdown(wait=True)
    failed.sort(key=lambda outcome: order[id(outcome.download)])
    report.failures += [
        DownloadFailure(o.download.url, o.download.subject_ids, o.reason) for o in failed
    ]
    return report
