"""The injected disk faults refuse writes under their folder only, with the kernel's errno."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_under(fault: str, folder: Path, body: str) -> subprocess.CompletedProcess:
    code = textwrap.dedent(f"""
        from pathlib import Path
        from tests.support import faults
        folder = Path({str(folder)!r})
        faults.install(folder, {fault})
    """) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)


def test_read_only_refuses_every_kind_of_write_under_the_folder_and_nothing_else(tmp_path):
    folder, outside = tmp_path / "data", tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "kept.txt").write_text("kept")
    done = run_under(
        "faults.read_only",
        folder,
        f"""
        import errno, os, tempfile
        import numpy as np
        from storage.atomic import check_writable, write_json
        attempts = {{
            "open": lambda: open(folder / "a.txt", "w"),
            "os.open": lambda: os.open(folder / "b", os.O_CREAT | os.O_WRONLY),
            "mkstemp": lambda: tempfile.mkstemp(dir=folder),
            "mkdir": lambda: (folder / "sub").mkdir(),
            "rename": lambda: os.replace(folder / "kept.txt", folder / "moved.txt"),
            "remove": lambda: (folder / "kept.txt").unlink(),
            "np.save": lambda: np.save(folder / "x.npy", np.zeros(3)),
            "check_writable": lambda: check_writable(folder),
            "write_json": lambda: write_json(folder / "m.json", {{}}),
        }}
        for name, attempt in attempts.items():
            try:
                attempt()
            except OSError as e:
                assert e.errno == errno.EROFS, (name, e)
            else:
                raise AssertionError(name + " was allowed")
        assert (folder / "kept.txt").read_text() == "kept"  # reading is fine
        write_json(Path({str(outside)!r}) / "m.json", {{"ok": 1}})  # other folders are not hit
    """,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["kept.txt"]
    assert (outside / "m.json").exists()


def test_full_disk_fails_the_write_that_crosses_the_limit_and_leaves_no_temp(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    done = run_under(
        "faults.full_after(folder, 64 * 1024)",
        folder,
        """
        import errno
        from storage.atomic import write_bytes
        write_bytes(folder / "small.bin", b"x" * 16 * 1024)
        try:
            write_bytes(folder / "big.bin", b"y" * 80 * 1024)
        except OSError as e:
            assert e.errno == errno.ENOSPC and "No space left" in e.strerror, e
        else:
            raise AssertionError("80 KB written beside 16 KB on a 64 KB disk")
        assert sorted(p.name for p in folder.iterdir()) == ["small.bin"], list(folder.iterdir())
        write_bytes(folder / "tiny.bin", b"z")  # what fits in the space left is still written
    """,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["small.bin", "tiny.bin"]
