"""Downloading subject files: planned from the export, fetched from a local misbehaving server.

The server (tests/file_server.py) serves some files, fails some, drops or resets connections
part-way through a body, and counts every request, so each test can say how many times a file
was asked for, and that no half file is left behind.
"""

from __future__ import annotations

import csv
import json
import socket
import threading
from pathlib import Path

import pytest

from gzbcat.zooniverse import download as download_module
from gzbcat.zooniverse.download import (
    Download,
    DownloadFailure,
    DownloadStoppedError,
    download_files,
    plan_downloads,
    url_file_name,
)
from tests.file_server import Drop, Fail, FileServer, Redirect, Reset, Serve, Stall

BODY = json.dumps({"imageData": list(range(2000))}).encode()


def _write_export(path: Path, rows: list[tuple[int, dict[str, str]]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["subject_id", "metadata", "locations"])
        for subject_id, locations in rows:
            writer.writerow([subject_id, "{}", json.dumps(locations)])
    return path


def _fetch(downloads: list[Download], **options: object):
    options = {"retries": 2, "backoff_s": 0.0, "timeout_s": 10.0, **options}
    return download_files(downloads, **options)  # type: ignore[arg-type]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_url_file_name_is_the_last_part_of_the_path() -> None:
    assert url_file_name("https://host/a/b/c.json?x=1#y") == "c.json"
    assert url_file_name("https://host/") == ""


def test_plan_lists_each_url_once_and_refuses_what_cannot_be_fetched(tmp_path: Path) -> None:
    export = _write_export(
        tmp_path / "subjects.csv",
        [
            (1, {"0": "https://host/a/1.json", "1": "https://host/a/1.png"}),
            (2, {"0": "subjects/2/difference.json"}),  # a relative path: nothing to fetch
            (3, {"0": "ftp://host/3.json"}),
            (4, {"0": "https://host/dir/"}),
            (5, {"0": "https://other/b/1.json"}),  # same file name as subject 1's URL
            (6, {"0": "https://host/a/1.json"}),  # same URL as subject 1
            (7, {"1": "https://host/7.png"}),  # no frame 0: left to ingest
            (1, {"0": "https://host/a/1.json"}),  # subject 1 again
        ],
    )
    files = tmp_path / "files"
    plan = plan_downloads(export, files)
    assert plan.downloads == [Download("https://host/a/1.json", files / "1.json", (1, 6))]
    refused = {failure.subject_ids: failure for failure in plan.refused}
    assert set(refused) == {(3,), (4,), (5,)}
    assert "only http and https" in refused[(3,)].reason
    assert "names no file" in refused[(4,)].reason
    assert "https://host/a/1.json" in refused[(5,)].reason
    assert refused[(5,)].messages() == [
        f"subject 5: https://other/b/1.json: {refused[(5,)].reason}"
    ]


def test_served_failed_retried_and_dropped_files(tmp_path: Path) -> None:
    with FileServer() as server:
        ok = server.add("/ok.json", Serve(BODY))
        missing = server.add("/missing.json", Fail(404))
        forbidden = server.add("/forbidden.json", Fail(403))
        flaky = server.add("/flaky.json", Fail(500), Fail(503), Serve(BODY))
        dropped = server.add("/dropped.json", Drop(BODY, sent=len(BODY) // 2))
        dropped_once = server.add("/dropped-once.json", Drop(BODY, 100), Serve(BODY))
        reset = server.add("/reset.json", Reset(BODY, sent=len(BODY) // 3))
        busy = server.add("/busy.json", Fail(429, retry_after="0"), Serve(BODY))
        moved = server.add("/moved.json", Redirect("/ok.json"))
        to_ftp = server.add("/to-ftp.json", Redirect("ftp://127.0.0.1/x.json"))
        downloads = [
            Download(url, tmp_path / url_file_name(url), (i,))
            for i, url in enumerate(
                [ok, missing, forbidden, flaky, dropped, dropped_once, reset, busy, moved, to_ftp]
            )
        ]
        done: list[int] = []
        report = _fetch(downloads, workers=4, progress=done.append)

        assert sum(done) == len(downloads)
        assert report.downloaded == 5
        assert report.already_present == 0
        assert report.bytes_downloaded == 5 * len(BODY)
        for name in ("ok", "flaky", "dropped-once", "busy", "moved"):
            assert (tmp_path / f"{name}.json").read_bytes() == BODY
        failures = {failure.url: failure for failure in report.failures}
        assert list(failures) == [missing, forbidden, dropped, reset, to_ftp]  # export order
        assert failures[missing].reason == "HTTP 404 Not Found"
        assert failures[forbidden].reason == "HTTP 403 Forbidden"
        assert failures[dropped].reason == (
            f"connection closed after {len(BODY) // 2} of {len(BODY)} bytes (after 3 attempts)"
        )
        assert failures[reset].reason.endswith("(after 3 attempts)")
        assert "ftp" in failures[to_ftp].reason
        assert report.unavailable()[missing] == "HTTP 404 Not Found"
        assert report.n_failed == report.n_failed_subjects == 5

        # 4xx other than 408/429 is final; 5xx, 429 and dropped connections are retried.
        assert server.gets("/missing.json") == server.gets("/forbidden.json") == 1
        assert server.gets("/flaky.json") == 3
        assert server.gets("/dropped.json") == server.gets("/reset.json") == 3
        assert server.gets("/dropped-once.json") == server.gets("/busy.json") == 2
        assert server.gets("/to-ftp.json") == 1
    # No half file under either name.
    for name in ("missing", "forbidden", "dropped", "reset", "to-ftp"):
        assert not (tmp_path / f"{name}.json").exists()
    assert _leftovers(tmp_path) == []


def test_files_already_there_are_not_fetched_again(tmp_path: Path) -> None:
    with FileServer() as server:
        same = server.add("/same.json", Serve(BODY))
        stale = server.add("/stale.json", Serve(BODY))
        unsized = server.add("/unsized.json", Serve(BODY, content_length=False))
        empty = server.add("/empty.json", Serve(BODY, content_length=False))
        leftover = server.add("/leftover.json", Serve(BODY))
        (tmp_path / "same.json").write_bytes(BODY)
        (tmp_path / "stale.json").write_bytes(b"{}")  # wrong size: fetched again
        (tmp_path / "unsized.json").write_bytes(b"{}")  # no length given: non-empty is done
        (tmp_path / "empty.json").write_bytes(b"")  # empty never counts as done
        (tmp_path / "leftover.json.part").write_bytes(b"half a fi")  # from a killed run
        urls = [same, stale, unsized, empty, leftover]
        downloads = [Download(u, tmp_path / url_file_name(u), (i,)) for i, u in enumerate(urls)]

        report = _fetch(downloads)
        assert (report.downloaded, report.already_present, report.failures) == (3, 2, [])
        assert server.gets("/same.json") == server.gets("/unsized.json") == 0
        assert server.heads("/same.json") == server.heads("/unsized.json") == 1
        assert server.gets("/stale.json") == server.gets("/empty.json") == 1
        assert (tmp_path / "unsized.json").read_bytes() == b"{}"
        for name in ("same", "stale", "empty", "leftover"):
            assert (tmp_path / f"{name}.json").read_bytes() == BODY
        assert _leftovers(tmp_path) == []

        again = _fetch(downloads)
        assert (again.downloaded, again.already_present) == (0, 5)
        assert server.gets("/stale.json") == server.gets("/leftover.json") == 1


def test_a_server_that_is_not_there_fails_after_retries(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x.json"
    report = _fetch([Download(url, tmp_path / "x.json", (7,))], retries=1)
    [failure] = report.failures
    assert failure == DownloadFailure(url, (7,), failure.reason)
    assert "refused" in failure.reason.lower() and failure.reason.endswith("(after 2 attempts)")


def test_a_folder_that_cannot_be_written_is_not_retried(tmp_path: Path) -> None:
    with FileServer() as server:
        url = server.add("/x.json", Serve(BODY))
        report = _fetch([Download(url, tmp_path / "no-such-folder" / "x.json", (1,))])
        [failure] = report.failures
        assert failure.reason.startswith("cannot write ")
        assert server.gets("/x.json") == 1


def test_the_default_backoff_is_read_at_call_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    class RecordingEvent(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            return False

    monkeypatch.setattr(download_module, "DEFAULT_BACKOFF_S", 0.25)
    with FileServer() as server:
        url = server.add("/x.json", Fail(500))
        report = download_files(
            [Download(url, tmp_path / "x.json", (1,))], retries=3, stop=RecordingEvent()
        )
    assert waits == [0.25, 0.5, 1.0]  # doubled before each further retry
    assert report.failures[0].reason == "HTTP 500 Internal Server Error (after 4 attempts)"


def test_an_interrupt_abandons_files_in_flight_and_leaves_no_half_file(tmp_path: Path) -> None:
    reached, release, stop = threading.Event(), threading.Event(), threading.Event()
    with FileServer() as server:
        urls = [server.add("/0.json", Serve(BODY))]
        urls += [server.add(f"/{i}.json", Stall(BODY, 1000, reached, release)) for i in (1, 2)]
        urls += [server.add(f"/{i}.json", Serve(BODY)) for i in (3, 4, 5)]
        downloads = [Download(u, tmp_path / url_file_name(u), (i,)) for i, u in enumerate(urls)]

        def interrupt(_n: int) -> None:
            assert reached.wait(10)  # another file is half-way through
            stop.set()  # what the interrupt handler does first, made certain here
            release.set()
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            _fetch(downloads, workers=2, progress=interrupt, stop=stop)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.json"]
    assert (tmp_path / "0.json").read_bytes() == BODY
    assert server.gets("/3.json") == server.gets("/4.json") == server.gets("/5.json") == 0


def test_a_stop_set_by_the_caller_raises_before_any_request(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    with FileServer() as server:
        url = server.add("/x.json", Serve(BODY))
        with pytest.raises(DownloadStoppedError):
            _fetch([Download(url, tmp_path / "x.json", (1,))], stop=stop)
        assert server.requests == {}


def test_a_server_that_stops_sending_times_out(tmp_path: Path) -> None:
    reached, release = threading.Event(), threading.Event()
    with FileServer() as server:
        url = server.add("/slow.json", Stall(BODY, 100, reached, release))
        try:
            report = _fetch([Download(url, tmp_path / "slow.json", (3,))], timeout_s=0.2, retries=0)
        finally:
            release.set()
    assert report.failures[0].reason == "timed out (nothing for 0.2 s)"
    assert list(tmp_path.iterdir()) == []
