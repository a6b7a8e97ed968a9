"""A small HTTP server on the loopback address that misbehaves on request, for download tests.

Each path is given a list of answers, one per GET (the last one repeats): serve a body, fail
with a status, redirect, drop the connection part-way through a body, or reset it. HEAD requests are
answered from the path's current answer without using it up. Every request is counted.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

__all__ = ["Drop", "Fail", "FileServer", "Redirect", "Reset", "Serve", "Stall"]


@dataclass(frozen=True)
class Serve:
    """200 with ``body``; ``content_length=False`` sends no length (the body ends at EOF)."""

    body: bytes
    content_length: bool = True


@dataclass(frozen=True)
class Fail:
    """An error status, e.g. 404 or 500 (optionally with ``Retry-After``)."""

    status: int
    retry_after: str | None = None


@dataclass(frozen=True)
class Drop:
    """200 announcing ``len(body)`` bytes, then only ``body[:sent]`` and a closed connection."""

    body: bytes
    sent: int


@dataclass(frozen=True)
class Reset:
    """200 announcing ``len(body)`` bytes, then ``body[:sent]`` and a TCP reset."""

    body: bytes
    sent: int


@dataclass(frozen=True)
class Stall:
    """200 with ``body``, pausing after ``body[:sent]`` (setting ``reached``) until ``release``
    is set (at most 10 s)."""

    body: bytes
    sent: int
    reached: threading.Event
    release: threading.Event


@dataclass(frozen=True)
class Redirect:
    """302 to ``location``."""

    location: str


Answer = Serve | Fail | Drop | Reset | Stall | Redirect


class FileServer:
    """``with FileServer() as server: server.add("/a.json", Fail(500), Serve(b"{}"))``."""

    def __init__(self) -> None:
        self.answers: dict[str, list[Answer]] = {}
        self.requests: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def add(self, path: str, *answers: Answer) -> str:
        """Answer GETs of ``path`` with ``answers`` in turn; return its URL."""
        self.answers[path] = list(answers)
        return self.url(path)

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def gets(self, path: str) -> int:
        return self.requests["GET", path]

    def heads(self, path: str) -> int:
        return self.requests["HEAD", path]

    def _answer(self, method: str, path: str) -> Answer:
        with self._lock:
            self.requests[method, path] += 1
            answers = self.answers.get(path)
            if not answers:
                return Fail(404)
            if method == "HEAD" or len(answers) == 1:
                return answers[0]
            return answers.pop(0)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._respond(server._answer("GET", self.path), body=True)

            def do_HEAD(self) -> None:
                self._respond(server._answer("HEAD", self.path), body=False)

            def _respond(self, answer: Answer, *, body: bool) -> None:
                if isinstance(answer, Redirect):
                    self.send_response(302)
                    self.send_header("Location", answer.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if isinstance(answer, Fail):
                    self.send_response(answer.status)
                    if answer.retry_after is not None:
                        self.send_header("Retry-After", answer.retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if not isinstance(answer, Serve) or answer.content_length:
                    self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if not body:
                    return
                if isinstance(answer, Serve):
                    self.wfile.write(answer.body)
                    return
                self.wfile.write(answer.body[: answer.sent])
                self.wfile.flush()
                if isinstance(answer, Stall):
                    answer.reached.set()
                    answer.release.wait(10)
                    self.wfile.write(answer.body[answer.sent :])
                    return
                if isinstance(answer, Reset):  # close with RST rather than FIN
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet test output

        return Handler

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
