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
    read_npz,
    remove_stale_temps,
    temp_folder,
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


def test_a_folder_that_refuses_fsync_still_gets_its_file(tmp_path, monkeypatch) -> None:
    """Some file systems answer fsync of a folder with EINVAL: the write still succeeds."""
    import os
    import stat

    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "Invalid argument")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_json(tmp_path / "a.json", {"v": 1})
    assert read_json(tmp_path / "a.json") == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_probe_left_by_a_killed_check_is_swept_as_a_temp(tmp_path, monkeypatch) -> None:
    """A process killed between creating and removing its probe leaves a temp file that the
    next run's sweep removes, like any other killed writer's."""
    import os

    class Killed(BaseException):
        pass

    def killed(path) -> None:
        raise Killed

    monkeypatch.setattr(os, "unlink", killed)
    with pytest.raises(Killed):
        check_writable(tmp_path)
    monkeypatch.undo()
    assert len(list(tmp_path.iterdir())) == 1  # the probe, left behind
    assert remove_stale_temps(tmp_path) == 1
    assert list(tmp_path.iterdir()) == []


def test_json_with_non_ascii_text_reads_back_under_any_locale(tmp_path) -> None:
    """JSON is UTF-8 (RFC 8259) whatever the locale of the process reading it: a file edited
    by hand or written by another tool (unescaped UTF-8, unlike ``write_json``'s) reads back."""
    import json
    import locale

    text = {"title": "Maison à vendre – 3 pièces", "reason": "ошибка"}
    (tmp_path / "m.json").write_bytes(json.dumps(text, ensure_ascii=False).encode("utf-8"))
    old = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")  # a process started with LANG=C (ASCII)
    try:
        assert read_json(tmp_path / "m.json") == text
    finally:
        locale.setlocale(locale.LC_CTYPE, old)


def test_a_write_creates_every_missing_folder_above_it(tmp_path) -> None:
    write_json(tmp_path / "clips" / "v-000" / "occ" / "0000.json", {"v": 1})
    assert read_json(tmp_path / "clips" / "v-000" / "occ" / "0000.json") == {"v": 1}


def test_a_writer_that_picks_its_format_by_suffix_gets_one(tmp_path) -> None:
    """cv2, pyarrow and ffmpeg choose the format from the file name: the temp name keeps it."""
    import cv2

    img = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    with atomic_path(tmp_path / "f.png") as tmp:
        assert cv2.imwrite(str(tmp), img)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "f.png")), img)


def test_a_writer_killed_mid_write_leaves_only_a_temp_that_the_sweep_removes(tmp_path) -> None:
    """A writer that dies inside the write (here a forked child that exits at once, running no
    cleanup, like SIGKILL): no file under the final name, and the half file is a temp beside
    it (same folder, temp prefix) that the next run's sweep removes."""
    import os

    write_json(tmp_path / "ran.json", {})  # a write in this process too (mutmut maps tests here)
    target = tmp_path / "clip" / "recon.npz"
    pid = os.fork()
    if pid == 0:  # the writer
        try:
            with atomic_path(target) as tmp:
                tmp.write_bytes(b"half")
                os._exit(0)  # dies mid-write: no finally, no rename
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert not target.exists() and len(list(target.parent.iterdir())) == 1
    assert remove_stale_temps(tmp_path) == 1
    assert list(target.parent.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_get_the_mode_open_would_give_them(tmp_path, umask) -> None:
    """mkstemp's temp files are 0o600: renamed as they were, every dataset file was private."""
    import os
    import stat

    old = os.umask(umask)
    try:
        paths = [write_json(tmp_path / "a.json", {"x": 1}),
                 write_npz(tmp_path / "b.npz", {"x": np.zeros(3)})]  # fmt: skip
        with atomic_path(tmp_path / "c.png") as tmp:  # a writer that wants a file name
            tmp.write_bytes(b"png")
        plain = tmp_path / "plain.txt"
        plain.write_text("the mode a plain open() gives")
    finally:
        os.umask(old)
    for p in [*paths, tmp_path / "c.png"]:
        assert (
            stat.S_IMODE(p.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~umask
        )


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_temp_folders_get_the_mode_mkdir_would_give_them(tmp_path, umask) -> None:
    """mkdtemp's folders are 0o700: a dataset folder renamed into place was private (drwx------
    under umask 0022) while everything inside it was shared."""
    import os
    import stat

    old = os.umask(umask)
    try:
        made = temp_folder(tmp_path, f"{TMP_PREFIX}x-")
        plain = tmp_path / "plain"
        plain.mkdir()
    finally:
        os.umask(old)
    assert made.parent == tmp_path and made.name.startswith(f"{TMP_PREFIX}x-")
    assert stat.S_IMODE(made.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert stat.S_IMODE(made.stat().st_mode) == 0o777 & ~umask


def test_read_npz_reads_archives_and_refuses_everything_else_as_value_errors(tmp_path) -> None:
    """Every reader of user-given arrays (`ytocc align/clean/voxelize`, `ytocc eval`, the sample
    readers) goes through read_npz: a bare .npy (np.save) or a cut archive must be a ValueError
    naming what it is, never a TypeError or BadZipFile escaping as an 'unexpected' error."""
    write_npz(tmp_path / "a.npz", points=np.arange(6.0).reshape(2, 3))
    assert read_npz(tmp_path / "a.npz")["points"].shape == (2, 3)
    np.save(tmp_path / "b.npy", np.zeros(3))
    with pytest.raises(ValueError) as info:
        read_npz(tmp_path / "b.npy")
    assert str(info.value) == "a bare .npy array, not an .npz archive of named arrays (np.savez)"
    whole = (tmp_path / "a.npz").read_bytes()
    for n in (10, len(whole) - 10):
        (tmp_path / "cut.npz").write_bytes(whole[:n])
        with pytest.raises(ValueError) as info:
            read_npz(tmp_path / "cut.npz")
        assert str(info.value).startswith("not an .npz archive (BadZipFile: "), str(info.value)
    np.savez(tmp_path / "plain.npz", points=np.arange(300.0))  # stored, not compressed
    raw = bytearray((tmp_path / "plain.npz").read_bytes())
    raw[len(raw) // 3] ^= 0xFF  # a flipped byte inside the member: its CRC no longer holds
    (tmp_path / "flipped.npz").write_bytes(bytes(raw))
    with pytest.raises(ValueError) as info:
        read_npz(tmp_path / "flipped.npz")
    assert str(info.value).startswith("not a whole .npz archive (BadZipFile: "), str(info.value)
    np.savez(tmp_path / "objects.npz", o=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):  # a pickle inside: never unpickled
        read_npz(tmp_path / "objects.npz")
    with pytest.raises(OSError):
        read_npz(tmp_path / "absent.npz")
