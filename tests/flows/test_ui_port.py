"""`ytocc ui` on a port already in use: one error line and exit 2, no server started."""

from __future__ import annotations

import socket

from flows.ui import main


def test_a_busy_port_is_one_error_line_and_nothing_starts(capsys) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--port", str(port)]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.splitlines() == [
        f"error: port {port} on 127.0.0.1 is in use (another `ytocc ui`? try --port {port + 1})"
    ]
