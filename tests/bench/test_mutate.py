"""bench/mutate.py: the scratch copy's rewrite keeps a module's behaviour and exposes its
decorated functions to mutmut."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

from bench.mutate import undecorate

REPO = Path(__file__).resolve().parents[2]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_decorated_functions_become_plain_ones_rebound_in_order(tmp_path) -> None:
    src = tmp_path / "m.py"
    src.write_text(
        "import functools\n\n"
        "def tag(s):\n    return lambda f: (lambda *a: s + f(*a))\n\n"
        "@tag('a')\n@tag('b')\ndef f(x):\n    return x\n\n"
        "@functools.lru_cache(maxsize=1)\ndef g(x):\n    return [x]\n"
    )
    undecorate(src)
    text = src.read_text()
    assert "@" not in text and "f = tag('a')(tag('b')(f))" in text
    m = _load(src, "m_undecorated")
    assert m.f("x") == "abx"  # the outer decorator applies last, as with @
    assert m.g(1) is m.g(1)  # still cached


def test_the_atomic_writes_keep_working_after_the_rewrite(tmp_path) -> None:
    copy = tmp_path / "atomic.py"
    copy.write_text((REPO / "storage" / "atomic.py").read_text())
    undecorate(copy)
    assert "@contextlib.contextmanager" not in copy.read_text()
    atomic = _load(copy, "atomic_undecorated")
    assert not inspect.isgeneratorfunction(atomic.atomic_path)  # a context manager again
    with atomic.atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("done")
    assert (tmp_path / "out.txt").read_text() == "done"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["atomic.py", "out.txt"]


def test_mutmut_reads_the_scratch_config_as_meant(tmp_path, monkeypatch) -> None:
    """mutmut ignores a key it does not know: read back through mutmut's own loader, each
    mutant forks from the fork server (not from a process whose tests left torch threads
    behind: they hang) with the 20 s × 5 time floor, on the set's files and tests."""
    from mutmut.configuration import ProcessIsolation, config, reset_config

    from bench.mutate import write_config

    write_config(tmp_path, ["models/embed.py"], ["tests/models/test_embed.py"])
    monkeypatch.chdir(tmp_path)
    reset_config()
    try:
        cfg = config()
        assert cfg.process_isolation == ProcessIsolation.FORKSERVER
        assert (cfg.timeout_constant, cfg.timeout_multiplier) == (20.0, 5.0)
        assert cfg.only_mutate == ["models/embed.py"]
        assert cfg.pytest_add_cli_args_test_selection == ["tests/models/test_embed.py"]
    finally:
        reset_config()
