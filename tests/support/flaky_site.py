"""A loopback website of our own files that misbehaves on cue, like a real server does.

``faults[name]`` is a list consumed one GET of `name` at a time: ``"ok"`` serves it, ``"drop"`` sends the headers
and half the body, then hangs up (``N bytes read, M more expected``); ``"reset"`` closes the
connection before answering; ``"slow"`` waits ``slow_s`` before answering (a timeout);
an int answers with that HTTP status. When the list is empty the file is served.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@contextlib.contextmanager
def flaky_site(
    folder: Path, faults: dict[str, list[str | int]], slow_s: float = 3.0
) -> Iterator[tuple[str, dict[str, int]]]:
    """Serve `folder` on 127.0.0.1; yields (base URL, GET count per file name)."""
    lock = threading.Lock()
    gets: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802
            name = self.path.lstrip("/").split("?")[0]
            with lock:
                gets[name] = gets.get(name, 0) + 1
                todo = faults.get(name) or []
                fault = todo.pop(0) if todo else None
            path = folder / name
            if not path.is_file():
                self.send_error(404)
                return
            if isinstance(fault, int):
                self.send_error(fault)
                return
            if fault == "reset":  # RST instead of an answer
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))  # fmt: skip
                self.close_connection = True
                return
            if fault == "slow":
                time.sleep(slow_s)
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4" if name.endswith(".mp4") else
                             "text/html" if name.endswith(".html") else "application/octet-stream")  # fmt: skip
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if fault == "drop" else body)
            if fault == "drop":
                self.close_connection = True

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
            pass  # a client hanging up on a slow or dropped answer is the point of the fault

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", gets
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
