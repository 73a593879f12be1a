"""A full disk and a read-only folder, injected where the product touches the file system.

No mount, no root, no special file system: a Python audit hook (PEP 578) sees every
file-system call the interpreter makes (``open``/``os.open`` for writing, ``os.mkdir``,
``os.rename``/``os.replace``, ``os.remove``, ``os.rmdir``, ...), the product's and its
libraries', and raises the ``OSError`` the kernel would raise for a path under the folder:

- ``read_only``: every write is ``EROFS`` (what a read-only mount answers);
- ``full_after(n)``: once the folder holds more than `n` bytes, every write and rename into it
  is ``ENOSPC`` (removing files still works, as on a full disk): the write that crosses the line fails when its temp file is renamed into
  place (the product writes every file to a temp name and renames it), later ones at once.

Writes made in C without the interpreter (cv2.imwrite, pyarrow) are not seen, but the product
makes them into temp files it created through ``os.open`` first, so they are stopped there.

Run a command under a fault with
``python -m tests.support.faults {read-only|full-after BYTES} FOLDER -- ytocc ARGS...``, or a
block of a test with ``with injected(folder, read_only): ...`` (the hook stays installed but idle
outside such blocks).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# event → positions of the path arguments it writes to
_WRITING = {
    "os.mkdir": (0,),
    "os.rename": (0, 1),
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.link": (1,),
    "os.symlink": (1,),
    "os.truncate": (0,),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.utime": (0,),
    "shutil.rmtree": (0,),
}


def _is_write_open(mode: str | None, flags: int) -> bool:
    if mode is not None:
        return any(c in mode for c in "wax+")
    return bool(flags & _WRITE_FLAGS)


def folder_bytes(folder: Path) -> int:
    """Bytes of the regular files under `folder` (what a small disk would have to hold)."""
    total, stack = 0, [str(folder)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.is_file(follow_symlinks=False):
                    total += e.stat(follow_symlinks=False).st_blocks * 512
    return total


_ACTIVE: list[tuple[str, Callable[[str], int | None]]] = []  # (real folder path, fault)
_busy = threading.local()
_HOOKED: list[bool] = []  # the hook is added once per process


def _under(root: str, path: object) -> bool:
    if isinstance(path, int) or path is None:
        return False
    p = os.path.realpath(os.fsdecode(path))
    return p == root or p.startswith(root + os.sep)


def _hook(event: str, args: tuple) -> None:
    if not _ACTIVE or getattr(_busy, "on", False):
        return
    if event == "open":
        paths = (args[0],) if _is_write_open(args[1], args[2] or 0) else ()
    else:
        paths = tuple(args[i] for i in _WRITING.get(event, ()) if i < len(args))
    if not paths:
        return
    _busy.on = True
    try:
        for root, fault in list(_ACTIVE):
            hit = next((p for p in paths if _under(root, p)), None)
            if hit is not None and (code := fault(event)) is not None:
                raise OSError(code, os.strerror(code), os.fsdecode(hit))
    finally:
        _busy.on = False


def install(folder: Path, fault: Callable[[str], int | None]) -> None:
    """Raise ``OSError(fault(event))`` for every write under `folder` that `fault` gives an errno,
    for the rest of the process (audit hooks cannot be removed)."""
    if not _HOOKED:
        sys.addaudithook(_hook)
        _HOOKED.append(True)
    _ACTIVE.append((os.path.realpath(folder), fault))


@contextlib.contextmanager
def injected(folder: Path, fault: Callable[[str], int | None]) -> Iterator[None]:
    """The fault of :func:`install` while the block runs, in this process (for fast tests)."""
    install(folder, fault)
    try:
        yield
    finally:
        _ACTIVE.pop()


def read_only(event: str) -> int:
    """Every write is refused, removals and metadata changes too."""
    return errno.EROFS


_GROWING = frozenset({"open", "os.mkdir", "os.rename", "os.link", "os.symlink"})


def full_after(folder: Path, limit: int) -> Callable[[str], int | None]:
    """ENOSPC for writes once `folder` holds more than `limit` bytes (removing still works)."""
    return lambda event: (
        errno.ENOSPC if event in _GROWING and folder_bytes(folder) > limit else None
    )


def main(argv: list[str]) -> None:
    """``read-only FOLDER -- CMD...`` or ``full-after BYTES FOLDER -- CMD...``; CMD is `ytocc`."""
    sep = argv.index("--")
    head, cmd = argv[:sep], argv[sep + 1 :]
    folder = Path(head[-1]).resolve()
    folder.mkdir(parents=True, exist_ok=True)  # the fault covers the folder, not its parents
    fault = read_only if head[0] == "read-only" else full_after(folder, int(head[1]))
    install(folder, fault)
    from flows.cli import main as ytocc

    sys.argv = ["ytocc", *cmd[1:]]
    ytocc()


if __name__ == "__main__":
    main(sys.argv[1:])
