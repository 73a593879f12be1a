"""Subprocesses of end-to-end tests: a local Prefect server, `ytocc` commands, clean kills.

Every process is started in its own session so that it and its children (an ephemeral Prefect
server, a uvicorn worker) are stopped together by the process-group id of the one we started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(prefect_home: Path, api_url: str | None = None) -> dict[str, str]:
    """Environment for a child: its own Prefect home, offline hubs, the given server (or none)."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start `cmd` in a new session, stdout and stderr to `log`."""
    fh = log.open("wb")
    return subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def kill_group(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM the process group we started, then SIGKILL whatever is left after `grace_s`."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait_s)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # children outliving the leader
            return


def wait_healthy(api_url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    """Poll `{api_url}/health` until it answers 200; fail with the server log if it dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited {proc.returncode}:\n{log.read_text()}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{api_url}/health", timeout=2) as r,
        ):
            if r.status == 200:
                return
        time.sleep(0.5)
    raise TimeoutError(f"prefect server not healthy after {timeout_s} s:\n{log.read_text()}")


@contextlib.contextmanager
def prefect_server(home: Path, cmd: list[str] | None = None) -> Iterator[str]:
    """A local Prefect server (SQLite in `home`) on a free port of 127.0.0.1; yields its API URL.

    `cmd` gets the port appended (default: `prefect server start --host 127.0.0.1 --port`).
    """
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = cmd or [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port"]
    log = home / "server.log"
    proc = start([*cmd, str(port)], base_env(home), log)
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_healthy(api, proc, log)
        yield api
    finally:
        kill_group(proc)


def ytocc(*args: str) -> list[str]:
    """The command line of the installed `ytocc` console script."""
    return [str(VENV_BIN / "ytocc"), *args]
