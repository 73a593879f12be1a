"""`make ui`: a local Prefect server (SQLite, 127.0.0.1) whose UI shows runs and artifacts."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on (host, port): a bind there fails."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    """Start `prefect server start` on 127.0.0.1 and say how to point runs at it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4200)
    args = parser.parse_args(argv)
    base = f"http://{f'[{args.host}]' if ':' in args.host else args.host}:{args.port}"
    # `prefect server start --port P` does not tell the UI where its API is: the UI's API URL
    # comes from PREFECT_UI_API_URL (else PREFECT_API_URL, else port 4200), so set it here.
    env = os.environ | {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": os.environ.get("PREFECT_UI_API_URL") or f"{base}/api",
    }
    if port_in_use(args.host, args.port):
        print(f"error: port {args.port} on {args.host} is in use (another `ytocc ui`? try "
              f"--port {args.port + 1})", file=sys.stderr)  # fmt: skip
        return 2
    print(f"Prefect UI: {base}  (Ctrl-C stops it)")
    print(f"point runs at it: export PREFECT_API_URL={base}/api", flush=True)
    cmd = [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    sys.exit(main())
