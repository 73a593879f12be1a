"""Atomic writes: every file is written to a temp name in its folder, fsynced, then renamed.

A killed process therefore never leaves a half file under a final name. The file gets the mode
a plain ``open()`` would give it (0o666 less the umask), not the temp file's private 0o600, so a
dataset meant to be shared is readable by the people it is shared with.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

TMP_PREFIX = ".tmp-"
# Errors of the data folder as a whole (not of one item): the run stops instead of failing
# every clip in turn.
FOLDER_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
FOLDER_ERROR = "data folder not writable: "


_UMASK_AT_IMPORT = os.umask(0o022)
os.umask(_UMASK_AT_IMPORT)  # os.umask can only be read by setting it: done once, at import


def file_mode() -> int:
    """The mode ``open()`` gives a new file now: 0o666 less the process umask (Linux reads it
    from /proc/self/status without changing it; elsewhere the umask at import)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    return 0o666 & ~_UMASK_AT_IMPORT


def folder_error(e: BaseException) -> str | None:
    """A one-line reason when `e` means the whole data folder cannot be written, else None."""
    if isinstance(e, OSError) and e.errno in FOLDER_ERRNOS:
        return (
            f"{FOLDER_ERROR}{e.strerror} ({e.filename})"
            if e.filename
            else f"{FOLDER_ERROR}{e.strerror}"
        )
    return None


def check_writable(folder: str | os.PathLike[str]) -> Path:
    """Create `folder` if needed and prove a file can be written in it; OSError says why not."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OSError(e.errno, f"data folder {path} is not writable: {e.strerror}") from e
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside `path`; on clean exit it is fsynced and renamed onto `path`.

    For writers that insist on a filename (cv2.imwrite, pyarrow, ffmpeg). The temp name keeps
    the suffix so format-sniffing writers still work. On error the temp file is removed.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=final.suffix, dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, file_mode())  # mkstemp's 0o600 would make every output private
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, final)
        _fsync_dir(final.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Atomically write `data` to `path`."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write UTF-8 `text` to `path`."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write `obj` as indented JSON (numpy scalars/arrays converted)."""
    return write_text(
        path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n"
    )


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_npz(path: str | os.PathLike[str], compress: bool = True, **arrays: Any) -> Path:
    """Atomically write arrays to an ``.npz`` (compressed by default)."""
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    return write_bytes(path, buf.getvalue())


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive, read without pickles.

    Raises OSError for a missing or unreadable file, ValueError for anything that is not an
    ``.npz`` archive of named arrays: a cut or foreign file, or a bare ``.npy`` array
    (``np.save``, which ``np.load`` returns as an array, not an archive).
    """
    try:
        loaded = np.load(path, allow_pickle=False)
    except (EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"not an .npz archive ({type(e).__name__}: {e})") from e
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError("a bare .npy array, not an .npz archive of named arrays (np.savez)")
    with loaded as z:
        try:
            return {k: z[k] for k in z.files}
        except (EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f"not a whole .npz archive ({type(e).__name__}: {e})") from e


def remove_stale_temps(folder: str | os.PathLike[str]) -> int:
    """Delete temp files a killed writer left in `folder` (recursively); return how many."""
    n = 0
    for p in Path(folder).rglob(f"{TMP_PREFIX}*"):
        with contextlib.suppress(OSError):
            p.unlink()
            n += 1
    return n


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
