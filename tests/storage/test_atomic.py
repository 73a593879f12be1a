"""Atomic writes: a reader sees the old file or the new one, never a half file."""

import errno

import numpy as np
import pytest

from storage.atomic import (
    FOLDER_ERROR,
    TMP_PREFIX,
    atomic_path,
    check_writable,
    folder_error,
    read_json,
    remove_stale_temps,
    write_json,
    write_npz,
)


def test_failed_write_keeps_the_previous_file_and_leaves_no_temp(tmp_path) -> None:
    target = tmp_path / "sub" / "a.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("{half")
        raise RuntimeError("killed mid-write")
    assert read_json(target) == {"v": 1}
    assert not list(target.parent.glob(f"{TMP_PREFIX}*"))


def test_npz_round_trip_and_numpy_values_in_json(tmp_path) -> None:
    write_npz(tmp_path / "x.npz", a=np.arange(5, dtype=np.int16))
    with np.load(tmp_path / "x.npz") as z:
        assert z["a"].dtype == np.int16 and z["a"].tolist() == [0, 1, 2, 3, 4]
    write_json(tmp_path / "n.json", {"f": np.float32(1.5), "arr": np.eye(2)})
    assert read_json(tmp_path / "n.json") == {"f": 1.5, "arr": [[1.0, 0.0], [0.0, 1.0]]}


def test_stale_temps_of_a_killed_writer_are_removed(tmp_path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / f"{TMP_PREFIX}abc.npz").write_bytes(b"partial")
    (tmp_path / "d" / "keep.npz").write_bytes(b"whole")
    assert remove_stale_temps(tmp_path) == 1
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["keep.npz"]


def test_check_writable_creates_the_folder_and_names_it_when_it_cannot(tmp_path) -> None:
    assert check_writable(tmp_path / "a" / "b").is_dir()
    assert not list((tmp_path / "a" / "b").iterdir())  # the probe is gone
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match=f"data folder {blocker / 'data'} is not writable"):
        check_writable(blocker / "data")
    assert blocker.read_text() == "x"


def test_folder_errors_are_disk_full_quota_or_read_only_only() -> None:
    assert folder_error(OSError(errno.ENOSPC, "No space left on device", "/d/f")).startswith(
        FOLDER_ERROR
    )
    assert folder_error(OSError(errno.EROFS, "Read-only file system")) is not None
    assert folder_error(OSError(errno.ENOENT, "No such file")) is None
    assert folder_error(ValueError("no")) is None


def test_check_writable_accepts_an_existing_folder_and_keeps_the_errno(tmp_path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "kept.txt").write_text("x")
    assert check_writable(tmp_path / "data") == tmp_path / "data"
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["kept.txt"]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError) as info:
        check_writable(blocker / "data")
    assert info.value.errno in (errno.ENOTDIR, errno.EEXIST)  # the cause, for folder_error


def test_every_stale_temp_is_counted_and_a_vanished_one_is_no_error(tmp_path) -> None:
    for i in range(3):
        (tmp_path / f"d{i}").mkdir()
        (tmp_path / f"d{i}" / f"{TMP_PREFIX}{i}.npz").write_bytes(b"partial")
    assert remove_stale_temps(tmp_path) == 3
    assert remove_stale_temps(tmp_path / "missing") == 0


def test_folder_error_names_the_file_when_there_is_one() -> None:
    full = OSError(errno.ENOSPC, "No space left on device", "/d/f.npz")
    assert folder_error(full) == f"{FOLDER_ERROR}No space left on device (/d/f.npz)"
    assert folder_error(OSError(errno.EROFS, "Read-only file system")) == (
        f"{FOLDER_ERROR}Read-only file system"
    )
    assert folder_error(OSError(errno.EDQUOT, "Disk quota exceeded")) is not None


def test_paths_in_json_are_written_as_strings_and_other_objects_refused(tmp_path) -> None:
    from pathlib import Path

    write_json(tmp_path / "p.json", {"p": Path("/a/b")})
    assert read_json(tmp_path / "p.json") == {"p": "/a/b"}
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        write_json(tmp_path / "o.json", {"o": object()})
    assert not (tmp_path / "o.json").exists()


def test_check_writable_probes_the_folder_itself(tmp_path) -> None:
    """The probe is written in the data folder, so a read-only data folder (here: writes under
    it answered EROFS, as a read-only mount does) is refused even where /tmp is writable."""
    from tests.support.faults import injected, read_only

    data = tmp_path / "data"
    data.mkdir()
    with injected(data, read_only), pytest.raises(OSError) as info:
        check_writable(data)
    assert info.value.errno == errno.EROFS and str(data) in str(info.value)
    assert folder_error(info.value).startswith(FOLDER_ERROR)
    assert check_writable(data) == data  # the fault is gone with the block


def test_stale_temp_folders_of_a_killed_freeze_do_not_stop_the_sweep(tmp_path) -> None:
    stale = tmp_path / "datasets" / f"{TMP_PREFIX}demo-x1"
    (stale / "occ").mkdir(parents=True)
    (stale / "occ" / "0001.npz").write_bytes(b"partial")
    (tmp_path / f"{TMP_PREFIX}a.json").write_text("{")
    assert remove_stale_temps(tmp_path) == 1  # the file; the folder itself cannot be unlinked
    assert not (tmp_path / f"{TMP_PREFIX}a.json").exists()


def test_npz_is_compressed_unless_asked_not_to(tmp_path) -> None:
    import zipfile

    grid = np.zeros((60, 60, 36), np.uint8)
    write_npz(tmp_path / "c.npz", target=grid)
    write_npz(tmp_path / "s.npz", compress=False, target=grid)
    with zipfile.ZipFile(tmp_path / "c.npz") as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}
    with zipfile.ZipFile(tmp_path / "s.npz") as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}
