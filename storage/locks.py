"""Per-item lock files, so two builds on one data folder never work on the same clip at once.

A lock is a file created with O_EXCL holding the holder's host, pid and start time. A lock whose
holder is a dead process on this host, or older than the TTL, is stale and taken over: a
crashed (SIGKILLed) holder never leaves a clip stuck.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

DEFAULT_TTL_S = 6 * 3600.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(path: Path, ttl_s: float = DEFAULT_TTL_S) -> bool:
    """True when the lock's holder is gone (dead pid on this host, unreadable, or past the TTL)."""
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return True
    if time.time() - float(info.get("started", 0)) > ttl_s:
        return True
    return info.get("host") == socket.gethostname() and not _alive(int(info.get("pid", -1)))


def try_lock(path: Path, ttl_s: float = DEFAULT_TTL_S) -> bool:
    """Take the lock at `path` (breaking a stale one); False when someone alive holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()})
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not is_stale(path, ttl_s):
                return False
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(body)
        return True
    return False


def release(path: Path) -> None:
    """Drop a lock we hold."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


@contextlib.contextmanager
def item_lock(path: Path, ttl_s: float = DEFAULT_TTL_S) -> Iterator[bool]:
    """Hold the lock while the block runs; yields whether it was obtained."""
    got = try_lock(path, ttl_s)
    try:
        yield got
    finally:
        if got:
            release(path)


@contextlib.contextmanager
def waiting_lock(path: Path, ttl_s: float = DEFAULT_TTL_S, poll_s: float = 0.2) -> Iterator[None]:
    """Hold the lock while the block runs, first waiting while a live holder has it.

    For work every later step needs (a video's download, a dataset's folder): the second
    comer waits, then finds the holder's markers done. A dead holder's lock is broken at once.
    """
    while not try_lock(path, ttl_s):
        time.sleep(poll_s)
    try:
        yield
    finally:
        release(path)


def lock_holder(path: Path) -> str:
    """Who holds the lock at `path`, for messages: 'host H, pid P, since T' (UTC)."""
    try:
        info = json.loads(path.read_text())
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(info["started"])))
        return f"host {info['host']}, pid {info['pid']}, since {since} UTC"
    except (OSError, ValueError, KeyError, TypeError):
        return "a holder that left no readable lock file"
