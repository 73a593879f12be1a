"""`ytocc doctor`: one line per check, ok or what to do; each check can say FIX on its own."""

from __future__ import annotations

import datetime as dt
import socket
from collections import namedtuple

import pytest
from typer.testing import CliRunner

from flows import doctor
from flows.cli import _register, app


def test_yt_dlp_older_than_the_limit_asks_for_an_update() -> None:
    from yt_dlp.version import __version__

    released = dt.date(*(int(x) for x in __version__.split(".")[:3]))
    assert doctor.yt_dlp_check(released + dt.timedelta(days=10)).ok
    old = doctor.yt_dlp_check(released + dt.timedelta(days=doctor.YT_DLP_MAX_AGE_DAYS + 1))
    assert not old.ok and "pip install -U 'yt-dlp[default]'" in old.detail


def test_no_javascript_runtime_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    check = doctor.js_runtime_check()
    assert not check.ok and "deno" in check.detail
    assert not doctor.ffmpeg_check().ok


def test_low_disk_and_unreachable_prefect_are_flagged(monkeypatch, tmp_path) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda p: usage(100e9, 99e9, 1e9))
    low = doctor.disk_check(tmp_path / "not" / "yet" / "data")  # checked on the nearest parent
    assert not low.ok and "1.0 GB" in low.detail
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{port}/api")
        down = doctor.prefect_check()
    assert not down.ok and "make ui" in down.detail
    monkeypatch.delenv("PREFECT_API_URL")
    assert doctor.prefect_check().ok


@pytest.mark.parametrize("check", [doctor.library_check, doctor.torch_check])
def test_installed_system_parts_are_ok(check) -> None:
    assert check().ok


def test_doctor_prints_every_check_and_exits_1_when_weights_are_missing(
    monkeypatch, tmp_path
) -> None:
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    _register()
    res = CliRunner().invoke(app, ["doctor", "--data", str(tmp_path / "data"),
                                   "--set", f"indoor.places365.weights={tmp_path / 'p'}"])  # fmt: skip
    lines = res.output.splitlines()
    assert res.exit_code == 1, res.output
    for name in ("DUSt3R", "Places365", "Mask2Former", "DINOv2", "ffmpeg", "torch", "free disk",
                 "Prefect API", "yt-dlp", "JavaScript runtime", "libusb"):  # fmt: skip
        (line,) = [ln for ln in lines if name in ln.split(":", 1)[0]]
        assert line.startswith(("ok  ", "FIX ")), line
    assert lines[-1].endswith(f"of {len(lines) - 1} ok")
