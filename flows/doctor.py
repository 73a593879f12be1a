"""`ytocc doctor`: is this machine ready? The preflight's model checks plus the system around them.

Each check is one :class:`~flows.preflight.Check` line, ok or what to do: system libraries
(libusb for Open3D), ffmpeg, the torch build and its GPU, free disk under the data root, the
Prefect API, yt-dlp's age and the JavaScript runtime YouTube's player needs.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from flows.preflight import Check, weights_checks

MIN_FREE_GB = 20.0
"""Free space under the data root below which a harvest is at risk: a 720p tour is 0.1-0.5 GB
and its clips' frames, depth and grids about as much again, so 20 GB holds a few dozen tours."""
YT_DLP_MAX_AGE_DAYS = 90
"""YouTube changes its player every few weeks; a yt-dlp older than this often fails on it."""
JS_RUNTIMES = ("deno", "node", "bun")
"""JavaScript runtimes yt-dlp can run YouTube's player challenges with (deno preferred)."""


def library_check() -> Check:
    """libusb-1.0, which Open3D's shared library links against."""
    try:
        ctypes.CDLL("libusb-1.0.so.0")
    except OSError:
        return Check(
            "libusb-1.0 (Open3D)", False, "missing; run: sudo apt-get install -y libusb-1.0-0"
        )
    return Check("libusb-1.0 (Open3D)", True, "found")


def ffmpeg_check() -> Check:
    path = shutil.which("ffmpeg")
    if path is None:
        return Check("ffmpeg", False, "not on PATH; run: sudo apt-get install -y ffmpeg")
    out = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=30).stdout
    return Check("ffmpeg", True, (out.splitlines() or [path])[0])


def torch_check() -> Check:
    """The torch build, and whether reconstruction gets a GPU."""
    import torch

    build = f"torch {torch.__version__} (CUDA build {torch.version.cuda or 'none'})"
    if torch.cuda.is_available():
        return Check("torch", True, f"{build}; GPU {torch.cuda.get_device_name(0)}")
    return Check(
        "torch", True, f"{build}; no GPU: DUSt3R runs on CPU (slow), fine for synthetic-gt"
    )


def disk_check(root: Path) -> Check:
    """Free space on the file system that holds (or will hold) the data root."""
    existing = next(p for p in (root, *root.parents) if p.exists())
    free_gb = shutil.disk_usage(existing).free / 1e9
    name = f"free disk under {root}"
    if free_gb < MIN_FREE_GB:
        return Check(name, False, f"{free_gb:.1f} GB; free at least {MIN_FREE_GB:.0f} GB or use --data")  # fmt: skip
    return Check(name, True, f"{free_gb:.1f} GB")


def prefect_check() -> Check:
    """The Prefect API in PREFECT_API_URL answers, or none is configured (temporary servers)."""
    api = os.environ.get("PREFECT_API_URL")
    if not api:
        return Check("Prefect API", True, "none configured: each run starts a temporary server")
    try:
        with urllib.request.urlopen(api.rstrip("/") + "/health", timeout=5) as r:
            r.read()
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        return Check("Prefect API", False, f"{api} unreachable ({reason}); start `make ui` or unset PREFECT_API_URL")  # fmt: skip
    return Check("Prefect API", True, f"{api} answers")


def yt_dlp_check(today: dt.date | None = None) -> Check:
    """yt-dlp's version (a release date) is recent enough for YouTube."""
    from yt_dlp.version import __version__

    released = dt.date(*(int(x) for x in __version__.split(".")[:3]))
    age = ((today or dt.date.today()) - released).days
    if age > YT_DLP_MAX_AGE_DAYS:
        return Check("yt-dlp", False, f"{__version__} is {age} days old; run: pip install -U 'yt-dlp[default]'")  # fmt: skip
    return Check("yt-dlp", True, __version__)


def js_runtime_check() -> Check:
    """A JavaScript runtime yt-dlp can use for YouTube."""
    found = [name for name in JS_RUNTIMES if shutil.which(name)]
    if not found:
        return Check("JavaScript runtime (YouTube)", False, "none; install deno (https://deno.com) or node")  # fmt: skip
    return Check("JavaScript runtime (YouTube)", True, ", ".join(found))


def doctor_checks(cfg: Any, root: Path) -> list[Check]:
    """Every check, in the order printed."""
    return [
        *weights_checks(cfg, embed=True),
        library_check(),
        ffmpeg_check(),
        torch_check(),
        disk_check(root),
        prefect_check(),
        yt_dlp_check(),
        js_runtime_check(),
    ]
