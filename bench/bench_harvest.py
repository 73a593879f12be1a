"""Harvest benchmarks: the shots stage (PySceneDetect's pass plus our transition and coherence
checks) against PySceneDetect's AdaptiveDetector alone on the same file, frame extraction,
harvest wall time per minute of video, cut F1 on a video with known hard cuts, and transition
recall (share of mixed frames found) on videos joined by known fades, dissolves and wipes."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from storage.config import load_config
from storage.layout import DataRoot
from tasks import download, frames, shots
from tasks.sources import VideoSource

REPEATS = 3  # best of 3: the machine is shared, the minimum is the least disturbed timing


def _f1(found: list[int], truth: list[int], tol: int = 1) -> float:
    hit = sum(any(abs(f - t) <= tol for f in found) for t in truth)
    if not found or not truth:
        return float(found == truth)
    p, r = hit / len(found), hit / len(truth)
    return 0.0 if hit == 0 else 2 * p * r / (p + r)


def _best(fn) -> float:
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def run(out_dir: Path) -> dict[str, Any]:
    """Timings at 640×360 on a 30 s video of 6 shots; transitions at 320×240."""
    import scenedetect as sd

    from tests.support.videos import two_rooms, write_video

    cfg = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "v.mp4"
        lengths = [120, 96, 144, 168, 120, 72]
        truth = write_video(video, lengths, size=(640, 360), fps=24, seed=7)
        n = sum(lengths)
        root = DataRoot(Path(tmp) / "data")
        download.run(root, cfg, VideoSource("v", str(video), local=True))
        anchor = _best(lambda: sd.detect(str(video), sd.AdaptiveDetector(), backend="pyav"))
        ours = _best(lambda: shots.run(root, cfg, "v", force=True))
        marker = shots.run(root, cfg, "v", force=True)  # its marker's wall_s: one wall timing
        spans = marker.stats["spans"]
        t = time.perf_counter()
        for cid in root.clip_ids("v"):
            frames.run(root, cfg, cid)
        frames_s = time.perf_counter() - t
        sampled = sum(len(list(root.frames_dir(c).glob("*.jpg"))) for c in root.clip_ids("v"))
        covered = {}
        for kind in ("fade", "dissolve", "wipeleft", "circleopen"):
            path = Path(tmp) / f"{kind}.mp4"
            start, end = two_rooms(path, kind, size=(320, 240))
            found = shots.scan_video(path, cfg.shots)
            scales = [max(2, round(s * found.fps)) for s in cfg.shots.transition_scales_s]
            runs = shots.gradual_transitions(
                found.thumbs, scales, cfg.shots.transition_ratio, cfg.shots.transition_min_change
            )
            inside = sum(max(0, min(b, end) - max(a, start)) for a, b in runs)
            covered[kind] = round(inside / (end - start), 3)  # share of mixed frames found
    minutes = n / 24 / 60
    return {
        "video": {"frames": n, "size": "640x360", "shots": len(lengths)},
        "pyscenedetect_cpu_s": round(anchor, 3),
        "shots_stage_cpu_s": round(ours, 3),
        "shots_over_pyscenedetect": round(ours / anchor, 3),
        "target_ratio": 1.2,
        "cut_f1": _f1([a for a, _ in spans[1:]], [int(c) for c in truth]),
        "transition_frames_found": covered,
        "frames_sampled": sampled,
        "frames_stage_s": round(frames_s, 2),
        "frames_written_per_s": round(sampled / frames_s, 1),
        "harvest_s_per_video_minute": round((marker.wall_s + frames_s) / minutes, 1),
        "note": "download time excluded (loopback); see tests/flows/test_harvest.py",
    }
