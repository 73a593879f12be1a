"""A headless Chromium driven over the Chrome DevTools Protocol (no Playwright needed).

`Browser` starts `chromium --headless --no-sandbox` in its own session with a throw-away
profile, attaches to one page over a websocket (`websockets`, a Prefect dependency) and offers
what end-to-end UI tests need: navigate, evaluate JavaScript, wait for text, click, screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

CHROMIUM = "/usr/bin/chromium"


def find_chromium() -> str | None:
    """The Chromium executable: $CHROMIUM, Debian's /usr/bin/chromium, or one on PATH."""
    for cand in (os.environ.get("CHROMIUM"), CHROMIUM, "chromium", "chromium-browser"):
        if cand and (path := shutil.which(cand)):
            return path
    return None


class BrowserError(RuntimeError):
    """Chromium did not start, or a DevTools command failed."""


class Browser:
    """One headless Chromium page; use as a context manager (the browser is killed on exit)."""

    def __init__(
        self,
        profile: Path,
        exe: str | None = None,
        size: tuple[int, int] = (1400, 1000),
        start_timeout_s: float = 60,
        command_timeout_s: float = 60,
    ) -> None:
        exe = exe or find_chromium()
        if not exe:
            raise BrowserError("no chromium executable found")
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "DevToolsActivePort").unlink(missing_ok=True)  # a stale one names a dead port
        self.log = profile / "chromium.log"
        self.timeout = command_timeout_s
        self._ids = itertools.count(1)
        cmd = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            f"--window-size={size[0]},{size[1]}",
            "about:blank",
        ]
        with self.log.open("wb") as fh:
            self.proc = subprocess.Popen(
                cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            port = self._devtools_port(profile / "DevToolsActivePort", start_timeout_s)
            self.ws = connect(self._page_ws(port, start_timeout_s), max_size=None, open_timeout=30)
            self.send("Page.enable")
            self.send("Runtime.enable")
            self.send(
                "Emulation.setDeviceMetricsOverride",
                width=size[0],
                height=size[1],
                deviceScaleFactor=1,
                mobile=False,
            )
        except BaseException:
            self.close()
            raise

    # -- start-up -------------------------------------------------------------------------
    def _devtools_port(self, active: Path, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrowserError(f"chromium exited {self.proc.returncode}:\n{self._log_tail()}")
            with contextlib.suppress(OSError, ValueError, IndexError):
                return int(active.read_text().splitlines()[0])
            time.sleep(0.2)
        raise BrowserError(f"chromium gave no DevTools port in {timeout_s} s:\n{self._log_tail()}")

    def _page_ws(self, port: int, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.2)
        raise BrowserError(f"chromium has no page target after {timeout_s} s")

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-3000:]
        return ""

    # -- protocol ---------------------------------------------------------------------------
    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result (events in between are dropped)."""
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"{method}: no answer in {self.timeout} s")
            try:
                msg = json.loads(self.ws.recv(timeout=left))
            except TimeoutError:
                continue
            if msg.get("id") != msg_id:
                continue
            if "error" in msg:
                raise BrowserError(f"{method}: {msg['error']}")
            return msg.get("result", {})

    def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page (promises awaited) and return its JSON value."""
        res = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in res:
            raise BrowserError(f"JS error in {expression!r}: {res['exceptionDetails']}")
        return res.get("result", {}).get("value")

    # -- what tests use ---------------------------------------------------------------------
    def navigate(self, url: str, timeout_s: float = 60) -> None:
        """Open `url` and wait until its document has loaded."""
        res = self.send("Page.navigate", url=url)
        if res.get("errorText"):
            raise BrowserError(f"navigate {url}: {res['errorText']}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(BrowserError):
                if self.evaluate("document.readyState") == "complete":
                    return
            time.sleep(0.2)
        raise BrowserError(f"{url} did not finish loading in {timeout_s} s")

    def text(self) -> str:
        """The rendered text of the page (`document.body.innerText`)."""
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def wait_for_text(self, *needles: str, timeout_s: float = 60) -> str:
        """Wait until the rendered text contains every needle; return it, or raise with it."""
        deadline = time.monotonic() + timeout_s
        text = ""
        while True:
            with contextlib.suppress(BrowserError):
                text = self.text()
            if all(n in text for n in needles):
                return text
            if time.monotonic() > deadline:
                missing = [n for n in needles if n not in text]
                raise AssertionError(
                    f"page {self.url()} lacks {missing} after {timeout_s} s; it shows:\n{text[:3000]}"
                )
            time.sleep(0.5)

    def url(self) -> str:
        with contextlib.suppress(BrowserError):
            return self.evaluate("location.href") or ""
        return ""

    def click_text(
        self, label: str, selector: str = "button, a, li, [role=tab], [role=option]"
    ) -> bool:
        """Click the first element matching `selector` whose trimmed text is `label`."""
        js = (
            f"(() => {{ const el = [...document.querySelectorAll({json.dumps(selector)})]"
            f".find(e => e.innerText && e.innerText.trim() === {json.dumps(label)});"
            " if (!el) return false; el.click(); return true; })()"
        )
        return bool(self.evaluate(js))

    def screenshot(self, path: Path, full_page: bool = False) -> bytes:
        """Save a PNG of the page (the viewport, or the whole page) to `path`; return its bytes."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        png = base64.b64decode(self.send("Page.captureScreenshot", **params)["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return png

    def close(self) -> None:
        """Close the websocket and kill Chromium's process group."""
        with contextlib.suppress(Exception):
            self.ws.close()
        for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=wait_s)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                return

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
