"""Per-item locks: exclusive while the holder lives, waited for, taken over when it was SIGKILLed."""

import contextlib
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


def test_a_lock_file_is_made_with_its_folders_and_mode_0644(tmp_path) -> None:
    lock = tmp_path / "locks" / "videos" / "deep" / "v.lock"
    old = os.umask(0o022)
    try:
        assert try_lock(lock)
    finally:
        os.umask(old)
    assert lock.stat().st_mode & 0o777 == 0o644
    info = json.loads(lock.read_text())
    assert info["host"] == socket.gethostname() and info["pid"] == os.getpid()
    # the wall clock of the lock, taken a moment ago: 60 s covers a stalled CI, while a wrong
    # clock or unit (0, monotonic, milliseconds) is off by days or more
    assert abs(info["started"] - time.time()) < 60


def test_the_holder_is_named_for_messages(tmp_path) -> None:
    from storage.locks import lock_holder

    lock = tmp_path / "clip.lock"
    lock.write_text(json.dumps({"host": "node7", "pid": 4242, "started": 0.0}))
    assert lock_holder(lock) == "host node7, pid 4242, since 1970-01-01 00:00:00 UTC"
    lock.write_text("{half")
    assert lock_holder(lock) == "a holder that left no readable lock file"
    assert lock_holder(tmp_path / "gone.lock") == "a holder that left no readable lock file"


def test_losing_every_race_for_a_stale_lock_is_not_holding_it(tmp_path, monkeypatch) -> None:
    import storage.locks as locks

    lock = tmp_path / "clip.lock"
    lock.write_text("{}")

    def always_taken(*_a, **_k):
        raise FileExistsError(str(lock))  # another build re-creates it before us, every time

    monkeypatch.setattr(locks, "is_stale", lambda *_a, **_k: True)
    monkeypatch.setattr(locks.os, "open", always_taken)
    assert try_lock(lock) is False


def test_a_stale_lock_removed_by_someone_else_first_is_still_taken(tmp_path, monkeypatch) -> None:
    import storage.locks as locks

    lock = tmp_path / "clip.lock"
    lock.write_text("{}")

    def stale_and_gone(path, *_a, **_k) -> bool:
        path.unlink()  # the other taker removes it between our check and our unlink
        return True

    monkeypatch.setattr(locks, "is_stale", stale_and_gone)
    assert try_lock(lock)
    from storage.locks import release

    release(lock)
    release(lock)  # releasing twice (or a lock already broken) is no error


def test_a_live_holder_we_may_not_signal_counts_as_alive(tmp_path, monkeypatch) -> None:
    import storage.locks as locks

    def denied(pid, sig):
        raise PermissionError(1, "Operation not permitted")  # another user's live process

    lock = tmp_path / "clip.lock"
    lock.write_text(
        json.dumps({"host": socket.gethostname(), "pid": 12345, "started": time.time()})
    )
    monkeypatch.setattr(locks.os, "kill", denied)
    assert not try_lock(lock)


def test_a_lock_without_a_start_time_is_stale_and_one_without_a_pid_waits_for_its_ttl(
    tmp_path,
) -> None:
    lock = tmp_path / "clip.lock"
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    assert try_lock(lock)  # no start time: as old as the epoch, past any TTL
    lock.write_text(json.dumps({"host": socket.gethostname(), "started": time.time()}))
    assert not try_lock(lock)  # no pid to check: kept (conservatively) until the TTL
    assert try_lock(lock, ttl_s=-1)


def test_checking_a_live_holder_leaves_it_running(tmp_path) -> None:
    """Asking whether the holder lives must only probe it (signal 0), never signal it: a
    second build checking a lock would otherwise hang up or kill the first build."""
    lock = tmp_path / "clip.lock"
    # the holder takes the default action of every signal that ends a process (a parent
    # started under nohup would otherwise hand it an ignored SIGHUP)
    code = (
        "import signal, time; from pathlib import Path; from storage.locks import try_lock\n"
        "for s in ('SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGALRM'):\n"
        "    signal.signal(getattr(signal, s), signal.SIG_DFL)\n"
        f"try_lock(Path({str(lock)!r})); print('held', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        assert not try_lock(lock)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)  # a signalled holder dies at once; 2 s also covers a busy CI
        assert proc.poll() is None, f"the holder died of signal {-proc.returncode}"
    finally:
        proc.kill()
        proc.wait()


def test_both_lock_helpers_pass_their_ttl_on(tmp_path) -> None:
    """A fresh lock of another host is kept for the default TTL, broken under a TTL given to
    ``item_lock`` or ``waiting_lock`` (what a caller with a short TTL relies on)."""
    lock = tmp_path / "clip.lock"
    theirs = json.dumps({"host": "elsewhere", "pid": 1, "started": time.time() - 10})
    lock.write_text(theirs)
    with item_lock(lock) as got:
        assert not got
    with item_lock(lock, ttl_s=5) as got:
        assert got
    lock.write_text(theirs)
    entered = threading.Event()

    def wait() -> None:
        with waiting_lock(lock, ttl_s=5, poll_s=0.05):
            entered.set()

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    assert entered.wait(timeout=30), "waited on a lock past the TTL it was given"
