"""Per-item locks: exclusive while the holder lives, waited for, taken over when it was SIGKILLed."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from storage.locks import item_lock, try_lock, waiting_lock


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


def test_a_waiting_lock_waits_for_a_live_holder_and_not_for_a_dead_one(tmp_path) -> None:
    lock = tmp_path / "videos" / "v.lock"
    order = []
    with item_lock(lock) as got:
        assert got
        waiter = threading.Thread(target=lambda: _wait_and_note(lock, order))
        waiter.start()
        time.sleep(0.5)
        order.append("holder done")
    waiter.join(timeout=10)
    assert order == ["holder done", "waiter in"]
    assert not lock.exists()
    lock.write_text(
        json.dumps({"host": socket.gethostname(), "pid": _dead_pid(), "started": time.time()})
    )
    t0 = time.monotonic()
    with waiting_lock(lock):
        assert time.monotonic() - t0 < 1.0  # a dead holder's lock is broken at once


def _wait_and_note(lock, order) -> None:
    with waiting_lock(lock, poll_s=0.05):
        order.append("waiter in")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_an_unreadable_lock_is_stale_and_taken_over(tmp_path) -> None:
    lock = tmp_path / "clip.lock"
    lock.write_text("{half a json")  # a holder killed while writing its lock
    assert try_lock(lock)
    assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_a_lock_of_another_host_is_not_broken_while_fresh(tmp_path) -> None:
    lock = tmp_path / "clip.lock"
    lock.write_text(json.dumps({"host": "elsewhere", "pid": _dead_pid(), "started": time.time()}))
    assert not try_lock(lock)  # its pid means nothing here: only the TTL frees it
    assert try_lock(lock, ttl_s=-1)
