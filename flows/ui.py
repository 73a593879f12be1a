"""`make ui`: a local Prefect server (SQLite, 127.0.0.1) whose UI shows runs and artifacts."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys


def main(argv: list[str] | None = None) -> int:
    """Start `prefect server start` on 127.0.0.1 and say how to point runs at it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4200)
    args = parser.parse_args(argv)
    env = os.environ | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    print(f"Prefect UI: http://{args.host}:{args.port}  (Ctrl-C stops it)")
    print(f"point runs at it: export PREFECT_API_URL=http://{args.host}:{args.port}/api")
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
