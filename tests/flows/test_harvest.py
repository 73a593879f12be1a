"""The harvest flow end to end: yt-dlp downloads from a loopback server; bad sources end alone."""

import json
import socket

import pytest
from typer.testing import CliRunner

from flows.cli import _register, app
from flows.harvest import harvest_flow
from flows.loopback import serve_directory
from storage.layout import DataRoot
from storage.markers import read_marker
from tests.support.videos import truncate, write_video

FAST = ["download.retries=0", "frames.per_clip=5", "frames.long_side=80"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def site(tmp_path):
    web = tmp_path / "web"
    web.mkdir()
    cuts = write_video(web / "tour.mp4", [40, 30, 50], seed=3)
    write_video(web / "frozen.mp4", [60], static=True)
    truncate(web / "tour.mp4", web / "truncated.mp4", 0.5)
    (web / "page.mp4").write_text("<!doctype html><html><body>Sign in to continue</body></html>")
    (web / "empty.mp4").write_bytes(b"")
    with serve_directory(web) as url:
        yield url, cuts


def _download_reason(root: DataRoot, name: str) -> tuple[str, str]:
    (vid,) = [v for v in root.video_ids() if v.startswith(name + "-")]
    m = read_marker(root.video_marker(vid, "download"))
    return m.status, m.reason


def test_harvest_isolates_bad_sources_and_a_second_run_redoes_nothing(prefect_harness, site, root):
    url, cuts = site
    dead = f"http://127.0.0.1:{_free_port()}/gone.mp4"
    names = ["tour", "frozen", "truncated", "page", "empty", "missing"]
    sources = [f"{url}/{n}.mp4" for n in names] + [dead]
    result = harvest_flow(sources, str(root.root), None, FAST)

    (tour_id,) = [v for v in root.video_ids() if v.startswith("tour-")]
    assert sorted(result["clips"]) == [f"{tour_id}-{i:03d}" for i in range(3)]
    starts = [json.loads(root.clip_json(c).read_text())["start_frame"] for c in result["clips"]]
    assert starts == [0, *cuts]
    assert all(len(list(root.frames_dir(c).glob("*.jpg"))) == 5 for c in result["clips"])

    assert read_marker(root.video_marker(tour_id, "shots")).status == "ok"
    (frozen_id,) = [v for v in root.video_ids() if v.startswith("frozen-")]
    shots = read_marker(root.video_marker(frozen_id, "shots"))
    assert (shots.status, shots.reason) == ("skipped", "static video (no motion)")
    assert _download_reason(root, "truncated")[0] == "failed"
    assert "not a video" in _download_reason(root, "page")[1]
    assert _download_reason(root, "empty") == ("failed", "yt-dlp: Did not get any data blocks")
    assert "404" in _download_reason(root, "missing")[1]
    status, reason = _download_reason(root, "gone")
    assert status == "failed" and "refused" in reason.lower()
    assert not list(root.videos.rglob("*.part")) and not list(root.videos.rglob(".download"))
    assert (root.manifest / "clips.parquet").exists()

    stamps = {p: p.stat().st_mtime_ns for p in root.root.rglob("stages/*.json")}
    harvest_flow(sources[:1], str(root.root), None, FAST)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_status_command_prints_json_rows(root) -> None:
    from storage.config import load_config
    from storage.stages import run_item_stage

    run_item_stage(root, load_config(), "v", "download", lambda: None)
    _register()
    out = CliRunner().invoke(app, ["status", "--data", str(root.root), "--json"])
    assert out.exit_code == 0, out.output
    row = json.loads(out.output.splitlines()[0])
    assert row["item"] == "v" and row["download"] == "ok" and row["kind"] == "video"


@pytest.mark.slow
def test_a_harvest_killed_mid_download_finishes_on_the_next_run(tmp_path, root) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    web = tmp_path / "web"
    web.mkdir()
    write_video(web / "a.mp4", [60, 48], size=(320, 240), seed=1)
    write_video(web / "b.mp4", [72], size=(320, 240), seed=2)
    slow = [*FAST, "download.rate_limit=40K"]
    with serve_directory(web) as url:
        cmd = [sys.executable, "-m", "flows.cli", "harvest", f"{url}/a.mp4", f"{url}/b.mp4",
               "--data", str(root.root), *[x for s in slow for x in ("--set", s)]]  # fmt: skip
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ
        )
        deadline = time.time() + 120
        while time.time() < deadline and not list(root.videos.rglob("*.part")):
            time.sleep(0.2)
        assert list(root.videos.rglob("*.part")), "the download never started"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        harvest_flow([f"{url}/a.mp4", f"{url}/b.mp4"], str(root.root), None, FAST)
    assert len(root.video_ids()) == 2
    assert all(
        read_marker(root.video_marker(v, "download")).status == "ok" for v in root.video_ids()
    )
    assert not list(root.videos.rglob("*.part")) and not list(root.root.rglob(".tmp-*"))
    clips = root.clip_ids()
    assert len(clips) == 3 and len(set(clips)) == 3  # a: 2 shots, b: 1 — none duplicated


def test_malformed_sources_each_fail_alone_with_an_error_line(prefect_harness, tmp_path, root):
    web = tmp_path / "web"
    web.mkdir()
    write_video(web / "a.mp4", [40, 30], seed=5)
    write_video(web / "b.mp4", [48], seed=6)
    (web / "page.html").write_text(
        '<html><body><video src="a.mp4"></video><video src="b.mp4"></video></body></html>'
    )
    missing = tmp_path / "nope.txt"
    latin = tmp_path / "latin.txt"
    latin.write_bytes("# visite guidée\n".encode("latin-1"))
    with serve_directory(web) as url:
        urls = tmp_path / "urls.txt"
        urls.write_bytes(
            b"\xef\xbb\xbf" + f"ftp://host/x.mp4\n{url}/page.html\n/etc/passwd\n".encode()
        )
        _register()
        args = ["harvest", str(urls), str(latin), str(missing), "--data", str(root.root)]
        out = CliRunner().invoke(app, [*args, *[x for s in FAST for x in ("--set", s)]])
    assert out.exit_code == 1, out.output  # issue 13: a refused source is a failed item
    errors = [ln for ln in out.output.splitlines() if ln.startswith("error: ")]
    assert errors == [
        f"error: {urls}:1: 'ftp://host/x.mp4': scheme 'ftp' not allowed (['http', 'https'])",
        f"error: {urls}:3: '/etc/passwd': a list entry must be an http(s) URL "
        "(local paths only as command-line arguments)",
        f"error: {latin}: not UTF-8 text (byte 0xe9 at offset 13)",
        f"error: {missing}: no such file or folder",
    ]
    assert "Traceback" not in out.output
    status = {v: read_marker(root.video_marker(v, "download")).status for v in root.video_ids()}
    ok = sorted(v.split("-")[0] for v, st in status.items() if st == "ok")
    failed = sorted(v.split("-")[0] for v, st in status.items() if st == "failed")
    assert ok == ["a", "b"]  # each <video> of the page is its own video
    assert failed == ["latin", "nope", "urls", "urls"]  # each bad item has its own marker
    assert len(root.clip_ids()) == 3  # a: 2 shots, b: 1
