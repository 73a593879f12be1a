"""Per-clip locks: exclusive while the holder lives, taken over when it was SIGKILLed."""

import os
import signal
import subprocess
import sys

from storage.locks import item_lock, try_lock


def test_a_held_lock_excludes_others_and_is_released(tmp_path) -> None:
    lock = tmp_path / "locks" / "clip.lock"
    with item_lock(lock) as got:
        assert got and lock.exists()
        assert not try_lock(lock)  # same host, live pid: held
    assert not lock.exists()


def test_a_killed_holder_leaves_no_stuck_lock(tmp_path) -> None:
    lock = tmp_path / "clip.lock"
    code = f"from storage.locks import try_lock; from pathlib import Path; import time; try_lock(Path({str(lock)!r})); print('held', flush=True); time.sleep(60)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    assert proc.stdout.readline().strip() == "held"
    assert not try_lock(lock)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert try_lock(lock)


def test_an_old_lock_expires(tmp_path) -> None:
    lock = tmp_path / "clip.lock"
    assert try_lock(lock)
    assert try_lock(lock, ttl_s=-1)
