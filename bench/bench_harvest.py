"""Harvest benchmarks: shot detection (ours vs PySceneDetect's own detector on the same file),
frame extraction, harvest wall time per minute of video, cut F1 on a video with known cuts."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from storage.config import load_config
from storage.formats import ClipInfo, write_clip_info
from storage.layout import DataRoot
from storage.stages import run_item_stage
from tasks.frames import run as frames_run
from tasks.shots import detect_shots


def _cut_video(path: Path, shots: list[int], size: tuple[int, int]) -> list[int]:
    from tests.support.videos import write_video

    return write_video(path, shots, size=size, fps=24, seed=7)


def _f1(found: list[int], truth: list[int], tol: int = 1) -> float:
    hit = sum(any(abs(f - t) <= tol for f in found) for t in truth)
    if not found or not truth:
        return float(found == truth)
    p, r = hit / len(found), hit / len(truth)
    return 0.0 if hit == 0 else 2 * p * r / (p + r)


def run(out_dir: Path) -> dict[str, Any]:
    """Timings at 640×360 on a 30 s video of 6 shots."""
    import scenedetect as sd

    cfg = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "v.mp4"
        shots = [120, 96, 144, 168, 120, 72]
        truth = _cut_video(video, shots, (640, 360))
        n = sum(shots)
        t = time.perf_counter()
        sd.detect(str(video), sd.AdaptiveDetector(), backend="pyav")
        anchor = time.perf_counter() - t
        t = time.perf_counter()
        spans, _, _ = detect_shots(video, cfg.shots)
        ours = time.perf_counter() - t
        root = DataRoot(Path(tmp) / "data")
        root.video_file("v").parent.mkdir(parents=True)
        video.replace(root.video_file("v"))
        for stage in ("download", "shots"):
            run_item_stage(root, cfg, "v", stage, lambda: None)
        t = time.perf_counter()
        for i, (a, b) in enumerate(spans):
            cid = f"v-{i:03d}"
            write_clip_info(root.clip_json(cid), ClipInfo(cid, "v", i, a, b, a / 24, b / 24, 24.0))
            frames_run(root, cfg, cid)
        frames_s = time.perf_counter() - t
        sampled = sum(
            len(list(root.frames_dir(f"v-{i:03d}").glob("*.jpg"))) for i in range(len(spans))
        )
    minutes = n / 24 / 60
    return {
        "video": {"frames": n, "size": "640x360", "shots": len(shots)},
        "pyscenedetect_fps": round(n / anchor, 1),
        "shots_stage_fps": round(n / ours, 1),
        "shots_overhead_pct": round(100 * (ours - anchor) / anchor, 1),
        "cut_f1": _f1([a for a, _ in spans[1:]], [int(c) for c in truth]),
        "frames_sampled": sampled,
        "frames_stage_s": round(frames_s, 2),
        "frames_written_per_s": round(sampled / frames_s, 1),
        "harvest_s_per_video_minute": round((ours + frames_s) / minutes, 1),
        "note": "download time excluded (loopback); see tests/flows/test_harvest.py",
    }
