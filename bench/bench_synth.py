"""Synthetic tour benchmark: frames/s rendered at 640×360 (cast + shading + H.264 encoding), the
whole `make_tour` rate with truth writing, bytes per frame, and truth_occupancy's time per frame.

DESIGN.md's target: ≥ 40 frames/s rendered with shading and encoding on 2 cores.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from storage.truth import read_truth_frame
from tasks.synth.occupancy import truth_occupancy
from tasks.synth.tour import TourSpec, VideoEncoder, make_tour, plan, render_frames

SPEC = TourSpec(rooms=1, seconds_per_room=2.0, width=640, height=360, fps=24, seed=0)


def render_encode_rate(spec: TourSpec, out: Path) -> float:
    """Frames/s of casting, shading and encoding the tour (no truth files)."""
    scenes, shots = plan(spec)
    start = time.perf_counter()
    n = 0
    with VideoEncoder(out, spec) as video:
        for *_, colour in render_frames(spec, scenes, shots):
            video.write(colour)
            n += 1
    return n / (time.perf_counter() - start)


def run(out_dir: Path) -> dict[str, Any]:
    out_dir = Path(out_dir)
    rate = render_encode_rate(SPEC, out_dir / "render_only.mp4")
    start = time.perf_counter()
    meta = make_tour(out_dir / "tour", SPEC)
    full = meta["num_frames"] / (time.perf_counter() - start)
    truth = out_dir / "tour" / "truth"
    truth_bytes = sum(p.stat().st_size for p in truth.rglob("*") if p.is_file())
    frame = read_truth_frame(truth, 10)
    pose = frame["cam2world"].astype(np.float64)
    ahead = pose[:3, 3] + 2.0 * pose[:3, 2]
    origin = np.array([ahead[0] - 2.4, ahead[1] - 2.4, -0.05])
    start = time.perf_counter()
    grid = truth_occupancy(out_dir / "tour", 10, origin)
    occ_s = time.perf_counter() - start
    return {
        "size": f"{SPEC.width}x{SPEC.height}",
        "frames": meta["num_frames"],
        "render_shade_encode_fps": round(rate, 1),
        "target_fps": 40,
        "make_tour_fps_with_truth": round(full, 1),
        "video_bytes_per_frame": (out_dir / "tour" / "tour.mp4").stat().st_size
        // meta["num_frames"],
        "truth_bytes_per_frame": truth_bytes // meta["num_frames"],
        "truth_occupancy_s": round(occ_s, 2),
        "truth_occupancy_known_voxels": int((grid != 255).sum()),
    }
