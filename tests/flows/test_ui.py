"""`make ui` end to end: the local Prefect server (`python -m flows.ui`, SQLite, 127.0.0.1), a
small demo run against it, and headless Chromium showing the flow run and its artifacts.

One server and one demo run per module (~1–2 min); the browser checks read what the Prefect UI
rendered (`document.body.innerText`, loaded images) and save screenshots under the tmp folder.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat

from flows.demo import HOUSES, VARIANTS
from tests.support.browser import Browser, find_chromium
from tests.support.processes import base_env, prefect_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        find_chromium() is None,
        reason="needs Chromium (Debian package `chromium`, /usr/bin/chromium; .ci/run installs it)",
    ),
]

UI_CMD = [sys.executable, "-m", "flows.ui", "--port"]  # what `make ui` runs, plus a free port
DEMO_ARGS = ["--rooms", "1", "--seconds-per-room", "3", "--size", "320x180", "--no-train"]
REPORT_KEYS = {"clips-done", "clips-by-stage", "build-report"}
LOAD_S = 90  # the UI's first load under a busy 2-core machine


@dataclass
class Served:
    """The running server, the demo's summary and what the API says about one house's build run."""

    api: str
    base: str
    home: Path
    demo: dict[str, Any]
    house: dict[str, Any]
    run: dict[str, Any]
    artifacts: list[dict[str, Any]]

    def artifact(self, key: str) -> dict[str, Any]:
        found = [a for a in self.artifacts if a["key"] == key]
        assert len(found) == 1, f"{len(found)} artifacts {key!r} in {self.artifacts}"
        return found[0]

    @property
    def ok_clips(self) -> list[str]:
        return [c["clip"] for c in self.house["clips"] if c["status"] == "ok"]


def post(api: str, path: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        f"{api}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`python -m flows.ui` on a free port, then `python -m flows.demo` (small) against it."""
    tmp = tmp_path_factory.mktemp("ui")
    home = tmp / "server-home"
    with prefect_server(home, cmd=UI_CMD) as api:
        out = tmp / "demo"
        done = subprocess.run(
            [sys.executable, "-m", "flows.demo", "--out", str(out), *DEMO_ARGS],
            env=base_env(tmp / "client-home", api),
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
        demo = json.loads((out / "demo.json").read_text())
        runs = post(api, "/flow_runs/filter", {"flows": {"name": {"any_": ["build"]}}})
        # one build per house and demo variant; the first variant's first house is looked at
        assert len(runs) == len(HOUSES) * len(VARIANTS), [r["name"] for r in runs]
        house, variant = HOUSES[0].name, VARIANTS[0].name
        # the build flow runs its tasks in a `build-pipeline` subflow on the configured runner;
        # the report, tables and progress are that run's artifacts
        pipes = post(api, "/flow_runs/filter", {"flows": {"name": {"any_": ["build-pipeline"]}}})
        assert len(pipes) == len(runs), [r["name"] for r in pipes]
        (run,) = [r for r in pipes if f"/{house}/" in r["parameters"]["sources"][0]
                  and Path(r["parameters"]["data"]).name == variant]  # fmt: skip
        arts = post(api, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run["id"]]}}})  # fmt: skip
        built = demo["variants"][variant]["houses"][house]
        yield Served(api, api.removesuffix("/api"), home, demo, built, run, arts)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with Browser(tmp_path_factory.mktemp("chromium-profile")) as b:
        yield b


def assert_real_png(png: bytes, path: Path) -> None:
    """A PNG of the viewport (1400×1000) that is not one flat colour."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and path.read_bytes() == png
    with Image.open(path) as im:
        im.load()
        assert im.size == (1400, 1000)
        # a blank (one-colour) page has std 0 and a page of text and tables tens of levels:
        # 10 of 255 tells them apart without judging the layout
        assert max(ImageStat.Stat(im.convert("RGB")).stddev) > 10, f"{path} is blank"


def listeners(port: int) -> list[str]:
    """Local addresses of the TCP sockets listening on `port` (/proc/net/tcp, tcp6), as hex."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.append(addr)
    return found


def non_loopback_ipv4() -> list[str]:
    """This machine's IPv4 addresses outside 127/8 (from `ip -4 -o addr`; none if no `ip`)."""
    ip = shutil.which("ip")
    if not ip:
        return []
    lines = subprocess.run([ip, "-4", "-o", "addr"], capture_output=True, text=True).stdout
    addrs = [w[i + 1].split("/")[0] for w in map(str.split, lines.splitlines()) for i, t in enumerate(w) if t == "inet"]  # fmt: skip
    return [a for a in addrs if not a.startswith("127.")]


def test_demo_ran_against_the_ui_server(served: Served) -> None:
    log = (served.home / "server.log").read_text()
    assert f"Prefect UI: {served.base}" in log  # flows.ui's hint names the port it was given
    assert served.demo["ui"] == f"{served.base}/runs"  # the demo knew it talked to this server
    assert served.ok_clips, served.house["clips"]
    assert served.demo["dataset"] and served.house["report"]
    assert served.run["state_type"] == "COMPLETED"
    assert (served.home / "prefect.db").exists()  # SQLite in the server's PREFECT_HOME
    keys = {a["key"] for a in served.artifacts}
    assert keys >= REPORT_KEYS, keys
    links = [a for a in served.artifacts if a["description"] == "clip folder"]
    assert len(links) == len(served.house["clips"])


def test_server_listens_on_loopback_only(served: Served) -> None:
    port = int(served.base.rsplit(":", 1)[1])
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp to read listening sockets from")
    addrs = listeners(port)
    assert addrs and set(addrs) == {"0100007F"}, addrs  # 127.0.0.1, nothing on 0.0.0.0 or ::
    for addr in non_loopback_ipv4():
        with pytest.raises(OSError), socket.create_connection((addr, port), timeout=5):
            pass


def test_flow_run_page_shows_the_run_and_its_artifacts(
    served: Served, browser: Browser, tmp_path: Path
) -> None:
    browser.navigate(f"{served.base}/runs/flow-run/{served.run['id']}")
    text = browser.wait_for_text(served.run["name"], "Completed", "Artifacts", timeout_s=LOAD_S)
    assert "Can't connect to Server API" not in text
    assert browser.click_text("Artifacts"), "no Artifacts tab on the flow run page"
    text = browser.wait_for_text(*sorted(REPORT_KEYS), "clip folder", timeout_s=LOAD_S)
    assert "TABLE" in text and "MARKDOWN" in text and "PROGRESS" in text
    shot = tmp_path / "flow-run-artifacts.png"
    assert_real_png(browser.screenshot(shot), shot)


def test_build_report_renders_with_its_pictures(
    served: Served, browser: Browser, tmp_path: Path
) -> None:
    art = served.artifact("build-report")
    browser.navigate(f"{served.base}/artifacts/artifact/{art['id']}")
    text = browser.wait_for_text(
        "ytocc build", "Stages", "Items that ended early", "Samples", served.ok_clips[0],
        served.run["name"], timeout_s=LOAD_S,
    )  # fmt: skip
    assert "voxelize" in text and "# ytocc" not in text  # rendered as Markdown, not shown raw
    pictures = """[...document.images].filter(i => i.src.startsWith('data:image/png')
                   && i.complete && i.naturalWidth > 0).length"""
    assert browser.evaluate(pictures) >= 1  # the inline frame-beside-grid PNG decoded
    browser.evaluate("document.querySelector('img[src^=\"data:image/png\"]').scrollIntoView()")
    shot = tmp_path / "build-report.png"
    assert_real_png(browser.screenshot(shot), shot)


def test_clip_table_and_progress_render(served: Served, browser: Browser, tmp_path: Path) -> None:
    browser.navigate(f"{served.base}/artifacts/artifact/{served.artifact('clips-by-stage')['id']}")
    clips = [c["clip"] for c in served.house["clips"]]
    text = browser.wait_for_text("clips-by-stage", *clips, timeout_s=LOAD_S)
    assert "voxelize" in text and "ok" in text
    shot = tmp_path / "clips-by-stage.png"
    assert_real_png(browser.screenshot(shot), shot)
    browser.navigate(f"{served.base}/artifacts/artifact/{served.artifact('clips-done')['id']}")
    browser.wait_for_text("clips-done", "Progress: 100%", timeout_s=LOAD_S)
