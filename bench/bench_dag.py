"""The cost of asking "is anything to do?" on a finished data folder of 200 clips.

A folder of 200 finished clips (40 videos × 5 clips × 22 frames, each clip with frames,
segments and occupancy samples and every stage marker written through the real marker
machinery, ``tests.support.tiny_dataset``) and its frozen dataset; then, as a user would run
them, in fresh processes: ``ytocc build`` with no sources (a no-op: every clip done, the
dataset current; target under 2 s on 2 cores) and ``ytocc status``, median of 3 each; and in
this process the done predicate alone over every stage of every clip
(``storage.plan.noop``: marker reads and one stat per recorded output).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

VIDEOS, CLIPS_PER_VIDEO, FRAMES = 40, 5, 22
TARGET_S = 2.0


def _median_wall(args: list[str], runs: int = 3) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "flows.cli", *args], capture_output=True,
                              text=True, timeout=600)  # fmt: skip
        times.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise RuntimeError(f"ytocc {' '.join(args)}: {done.stderr[-2000:]}")
        out = done.stdout
    return round(statistics.median(times), 3), out


def run(out_dir: Path) -> dict[str, Any]:
    from storage.config import Config
    from storage.layout import DataRoot
    from storage.plan import noop
    from tasks.dataset import freeze
    from tests.support.tiny_dataset import build_root

    data = out_dir / "dag-200"
    shutil.rmtree(data, ignore_errors=True)
    root = DataRoot(data)
    t0 = time.perf_counter()
    videos = {f"v{i:03d}": CLIPS_PER_VIDEO for i in range(VIDEOS)}
    clips = build_root(root, videos, frames=FRAMES)
    freeze(root, Config(), "ytocc")
    setup_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    settled = noop(root, Config(), "ytocc")
    predicate_s = time.perf_counter() - t0
    assert settled is not None and len(settled) == len(clips)

    build_s, build_out = _median_wall(["build", "--data", str(data)])
    assert "nothing to do" in build_out, build_out
    status_s, status_out = _median_wall(["status", "--data", str(data)])
    assert status_out.count("ok") >= len(clips), status_out[-500:]
    shutil.rmtree(data, ignore_errors=True)
    return {
        "clips": len(clips),
        "frames_per_clip": FRAMES,
        "setup_s": round(setup_s, 1),
        "noop_predicate_s": round(predicate_s, 3),
        "noop_build_s": build_s,
        "status_s": status_s,
        "noop_build_target_s": TARGET_S,
        "noop_build_under_target": build_s < TARGET_S,
    }
