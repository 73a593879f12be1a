"""A marker records what DESIGN.md lists: stage, item, status, reason, parameter hash, code
version, backend and weights, wall seconds, peak memory, timestamps; it is written last and
an old marker stops counting the moment its stage starts again."""

from __future__ import annotations

import errno
import json
import time
from datetime import datetime
from importlib import metadata
from pathlib import Path

import pytest

from storage.markers import (
    Marker,
    StageFailure,
    StageResult,
    StageSkip,
    code_version,
    params_hash,
    read_marker,
    run_stage,
)


def _vm_hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/self/status")


def _run(path, body, phash="h1"):
    return run_stage(path, stage="clean", item="v-000", phash=phash, body=body)


def test_an_ok_marker_records_the_result_backend_timing_and_memory(tmp_path) -> None:
    path = tmp_path / "stages" / "clean.json"

    def body() -> StageResult:
        time.sleep(0.05)
        return StageResult({"points": 7}, backend="synthetic-gt", weights="w@1")

    t0 = time.perf_counter()
    m = _run(path, body)
    call_s = time.perf_counter() - t0
    back = read_marker(path)
    assert back == m
    assert (m.stage, m.item, m.status, m.reason) == ("clean", "v-000", "ok", "")
    assert (m.params_hash, m.backend, m.weights, m.stats) == (
        "h1",
        "synthetic-gt",
        "w@1",
        {"points": 7},
    )
    assert m.code_version == code_version() == metadata.version("ytocc") and m.error is None
    assert 0.05 <= m.wall_s <= call_s + 0.001  # the body's time, inside the call's, in seconds
    hwm_mb = _vm_hwm_kib() / 1024  # the kernel's peak resident size of this process
    assert 0.8 * hwm_mb <= m.peak_mem_mb <= hwm_mb + 1  # MB, not KiB or bytes (Linux)
    started, finished = (datetime.fromisoformat(t) for t in (m.started_at, m.finished_at))
    assert started.utcoffset() is not None and started.utcoffset().total_seconds() == 0  # UTC
    assert started <= finished
    assert json.loads(path.read_text())["status"] == "ok"


def test_a_dict_or_nothing_returned_is_an_ok_marker_with_those_stats(tmp_path) -> None:
    assert _run(tmp_path / "a.json", lambda: {"n": 3}).stats == {"n": 3}
    m = _run(tmp_path / "b.json", lambda: None)
    assert m.status == "ok" and m.stats == {} and m.backend is None


@pytest.mark.parametrize(("exc", "status"), [(StageSkip, "skipped"), (StageFailure, "failed")])
def test_skips_and_failures_keep_their_reason_and_stats(tmp_path, exc, status) -> None:
    def body():
        raise exc("outdoor: 3 of 3 frames", frames=3)

    m = _run(tmp_path / "m.json", body)
    assert read_marker(tmp_path / "m.json") == m
    assert (m.status, m.reason, m.stats) == (status, "outdoor: 3 of 3 frames", {"frames": 3})
    assert str(exc("why")) == "why"


def test_an_unexpected_error_is_recorded_with_its_traceback_and_raised(tmp_path) -> None:
    def body():
        raise KeyError("frame 7")

    with pytest.raises(KeyError):
        _run(tmp_path / "m.json", body)
    m = read_marker(tmp_path / "m.json")
    assert m.status == "failed" and m.reason == "KeyError: 'frame 7'"
    assert "Traceback" in m.error and "in body" in m.error


def test_a_full_disk_while_recording_returns_an_unwritten_failed_marker(
    tmp_path, monkeypatch
) -> None:
    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "m.json"))

    def body():
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setattr("storage.markers.write_json", full)  # the marker cannot be written either
    m = _run(tmp_path / "m.json", body)
    assert m.status == "failed" and m.reason.startswith("data folder not writable: No space left")
    assert not (tmp_path / "m.json").exists()


def test_an_old_marker_stops_counting_as_soon_as_its_stage_runs_again(tmp_path) -> None:
    path = tmp_path / "m.json"
    _run(path, lambda: {"n": 1})
    seen = []
    _run(path, lambda: seen.append(path.exists()), phash="h2")
    assert seen == [False]  # a run killed here leaves no marker claiming the old output
    assert read_marker(path).params_hash == "h2"


def test_params_hash_is_stable_ordered_and_chained() -> None:
    h = params_hash({"a": 1, "b": [1, 2]})
    assert len(h) == 16 and int(h, 16) >= 0
    assert params_hash({"b": [1, 2], "a": 1}) == h  # key order does not matter
    assert params_hash({"a": 2, "b": [1, 2]}) != h
    assert params_hash({"a": 1, "b": [1, 2]}, ["up"]) != h  # an upstream hash chains in
    assert params_hash({"path": Path("/x/y")}) == params_hash({"path": "/x/y"})


def test_keys_and_fingerprints_are_pinned_so_existing_data_roots_stay_done() -> None:
    """Every marker of every existing data root holds a key and its inputs' fingerprints: a
    changed hash format (field names, key order, length) would make all of them stale at once,
    re-running every stage of every clip after an upgrade. Values computed once and pinned."""
    assert params_hash({"b": 1, "a": [1, 2]}, ["k1", "k2"]) == "48ef0ea7a8b6f595"
    outputs = {"clips/v-000/b.npz": [2, 20], "clips/v-000/a.npz": [1, 10]}
    for listed in (outputs, dict(reversed(outputs.items()))):  # in any order
        m = Marker("clean", "v-000", "ok", params_hash="0123456789abcdef", run="r1",
                   outputs=listed)  # fmt: skip
        assert m.fingerprint() == "3d5c0fa6b02b8ae6"


def test_read_marker_of_nothing_is_none_and_unknown_keys_are_ignored(tmp_path) -> None:
    assert read_marker(tmp_path / "none.json") is None
    path = tmp_path / "m.json"
    m = _run(path, lambda: None)
    data = json.loads(path.read_text()) | {"added_by_a_newer_version": 1}
    path.write_text(json.dumps(data))
    assert read_marker(path) == m


def test_params_hash_of_a_known_input_is_pinned() -> None:
    """A changed hash format re-runs every stage of every existing data root: change this
    value only on purpose (and say so in the release notes)."""
    assert params_hash({"a": 1}, ["up"]) == "0aba80563019f00f"


def test_a_broken_marker_says_exactly_what_is_wrong(tmp_path) -> None:
    """The warning a damaged marker gets (``read_marker``) tells the user what to look at."""
    from storage.markers import load_marker

    long_junk = "{" + "x" * 200
    cases = {
        '{"stage": "clean"': "unreadable (JSONDecodeError: Expecting ',' delimiter: "
                             "line 1 column 18 (char 17))",
        long_junk: "unreadable (JSONDecodeError: Expecting property name enclosed in double "
                   "quotes: line 1 column 2 (char 1))",
        "[1, 2]": "holds a JSON list, not an object",
        '{"status": "ok"}': "lacks stage, item",
        '{"stage": "clean", "item": "v", "status": "done"}': "has unknown status 'done'",
        '{"stage": "clean", "item": "v", "status": "ok", "wall_s": "1"}':
            "has fields of the wrong type (wall_s)",
    }  # fmt: skip
    cases['{"stage": "clean", "item": "v", "status": "ok", "outputs": {"a": [1]}}'] = (
        "has malformed outputs"
    )
    for text, problem in cases.items():
        (tmp_path / "m.json").write_text(text)
        assert load_marker(tmp_path / "m.json") == (None, problem), text
    folder = tmp_path / ("d" * 90) / "m.json"  # a folder where the marker should be
    folder.mkdir(parents=True)
    marker, problem = load_marker(folder)
    assert marker is None and problem.startswith("unreadable (IsADirectoryError: [Errno 21] ")
    assert len(problem) == len("unreadable (IsADirectoryError: )") + 80  # its message cut at 80


def test_a_marker_with_only_the_required_fields_loads(tmp_path) -> None:
    """Markers written before ``inputs``/``outputs`` existed (or by hand) still load."""
    from storage.markers import load_marker

    (tmp_path / "m.json").write_text('{"stage": "clean", "item": "v-000", "status": "ok"}')
    marker, problem = load_marker(tmp_path / "m.json")
    assert problem is None and (marker.stage, marker.item, marker.status) == (
        "clean",
        "v-000",
        "ok",
    )
    assert marker.outputs == {} and marker.inputs == {}


def test_reading_a_broken_marker_warns_once_naming_the_file_and_the_problem(
    tmp_path, capsys
) -> None:
    path = tmp_path / "m.json"
    path.write_text("[1, 2]")
    assert read_marker(path) is None
    assert capsys.readouterr().err == (
        f"warning: ignoring marker {path}: holds a JSON list, not an object\n"
    )


def test_peak_memory_is_the_processes_peak_in_mib(tmp_path) -> None:
    """``peak_mem_mb``: the process's peak resident memory (Linux reports KiB) in MiB."""
    import resource

    m = _run(tmp_path / "m.json", lambda: None)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # rounded to 0.1 MiB when written; the peak only grows, and nothing allocates in between
    assert peak_mib - 0.06 <= m.peak_mem_mb <= peak_mib + 0.05


def test_without_force_a_finished_run_under_the_same_key_is_returned_as_is(tmp_path) -> None:
    """``run_stage``'s own shortcut (callers that do not judge "done" themselves): an ok or
    skipped marker under the same key is kept; a failed one, or another key, runs again."""
    path, ran = tmp_path / "m.json", []
    first = _run(path, lambda: ran.append(1))
    assert _run(path, lambda: ran.append(2)) == first and ran == [1]
    _run(path, lambda: ran.append(3), phash="h2")
    assert ran == [1, 3]

    def fail():
        ran.append(4)
        raise StageFailure("bad")

    _run(path, fail, phash="h3")
    _run(path, lambda: ran.append(5), phash="h3")
    assert ran == [1, 3, 4, 5]


def test_a_failed_stage_records_none_of_what_it_left_as_its_outputs(tmp_path) -> None:
    """Half-written files of a failed run are never recorded as the stage's outputs."""
    half = tmp_path / "half.npz"

    def body():
        half.write_bytes(b"half")
        raise StageFailure("ran out of frames")

    m = run_stage(tmp_path / "m.json", stage="clean", item="v-000", phash="h", body=body,
                  outputs=lambda: {"half.npz": [4, half.stat().st_mtime_ns]})  # fmt: skip
    assert m.status == "failed" and m.outputs == {}
    assert read_marker(tmp_path / "m.json").outputs == {}
