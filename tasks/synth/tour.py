"""The synthetic house tour: rooms and one outdoor shot rendered in turn, hard cuts between them.

`make_tour` writes ``OUT_DIR/tour.mp4`` (H.264, yuv420p) and ``OUT_DIR/truth/`` (meta, shots,
rooms, one truth frame per video frame) through storage/truth.py; meta records the finished
video's SHA-256 (``video_sha256``), which binds the truth to it. Shot order: the rooms, with
the outdoor shot after the second room (or last, with fewer rooms), so the cut detector sees
indoor→outdoor and outdoor→indoor cuts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from storage.atomic import atomic_path
from storage.truth import (
    TruthShot,
    video_sha256,
    write_meta,
    write_rooms,
    write_shots,
    write_truth_frame,
)
from tasks.synth.path import intrinsics, walk
from tasks.synth.render import cast, renderable
from tasks.synth.scene import make_outdoor, make_room


@dataclass(frozen=True)
class TourSpec:
    """What to render: number of rooms, seconds per shot, frame size and rate, seed."""

    rooms: int = 3
    seconds_per_room: float = 4.0
    width: int = 640
    height: int = 360
    fps: int = 24
    seed: int = 0


def plan(spec: TourSpec) -> tuple[list[dict[str, Any]], list[TruthShot]]:
    """The scenes (rooms + outdoor, index = position) and the shots, one per scene in tour order."""
    rng = np.random.default_rng(spec.seed)
    scenes = [make_room(i, rng) for i in range(spec.rooms)]
    scenes.append(make_outdoor(spec.rooms, rng))
    order = list(range(spec.rooms))
    order.insert(min(2, spec.rooms), spec.rooms)
    n = max(2, round(spec.seconds_per_room * spec.fps))
    shots = [TruthShot(k * n, (k + 1) * n, scenes[s]["indoor"], s) for k, s in enumerate(order)]
    return scenes, shots


def render_frames(
    spec: TourSpec, scenes: list[dict[str, Any]], shots: list[TruthShot]
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per video frame: K, cam2world, depth, labels, colour."""
    K = intrinsics(spec.width, spec.height)
    for shot in shots:
        scene = scenes[shot.room]
        rng = np.random.default_rng([spec.seed, shot.room])
        poses = walk(scene, shot.end_frame - shot.start_frame, spec.fps, rng)
        r = renderable(scene, spec.seed)
        for pose in poses:
            depth, labels, colour = cast(r, K, pose, spec.height, spec.width)
            yield K, pose.astype(np.float32), depth, labels, colour


class VideoEncoder:
    """H.264 (yuv420p) writer that encodes frame i on its own thread while frame i + 1 renders.

    x264's macroblock tree varies run to run here, so it is off: a seed then fixes the bytes.
    Use as a context manager; `write` keeps at most one frame in flight and re-raises its error.
    """

    def __init__(self, path: Path, spec: TourSpec):
        self._box = av.open(str(path), "w", format="mp4")
        self._stream = self._box.add_stream("libx264", rate=spec.fps)
        self._stream.width, self._stream.height = spec.width, spec.height
        self._stream.pix_fmt = "yuv420p"
        self._stream.codec_context.time_base = Fraction(1, spec.fps)
        self._stream.options = {
            "crf": "18",
            "preset": "veryfast",
            "g": str(4 * spec.fps),
            "x264-params": "mbtree=0",
        }
        self._thread = ThreadPoolExecutor(max_workers=1)
        self._pending: Future | None = None
        self._count = 0

    def _encode(self, colour: np.ndarray, pts: int) -> None:
        frame = av.VideoFrame.from_ndarray(colour, format="rgb24")
        frame.pts = pts
        self._box.mux(self._stream.encode(frame))

    def write(self, colour: np.ndarray) -> None:
        if self._pending is not None:
            self._pending.result()
        self._pending = self._thread.submit(self._encode, colour, self._count)
        self._count += 1

    def __enter__(self) -> VideoEncoder:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._pending is not None and exc[0] is None:
                self._pending.result()
                self._box.mux(self._stream.encode())
        finally:
            self._thread.shutdown(wait=True)
            self._box.close()


def make_tour(
    out_dir: Path, spec: TourSpec, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Render and encode the tour, write its truth; returns meta (with the shot count)."""
    out_dir = Path(out_dir)
    truth = out_dir / "truth"
    scenes, shots = plan(spec)
    (truth / "meta.json").unlink(missing_ok=True)  # meta comes last: a half-written tour has none
    write_rooms(truth, scenes)
    write_shots(truth, shots)
    pending: Future | None = None  # truth of frame i compresses while frame i + 1 casts
    with (
        ThreadPoolExecutor(max_workers=1) as writer,
        atomic_path(out_dir / "tour.mp4") as tmp,
        VideoEncoder(tmp, spec) as video,
    ):
        for i, (K, pose, depth, labels, colour) in enumerate(render_frames(spec, scenes, shots)):
            if pending is not None:
                pending.result()  # one frame in flight at most; re-raises a write error
            pending = writer.submit(write_truth_frame, truth, i, K, pose, depth, labels)
            video.write(colour)
            if progress:
                progress(1)
        if pending is not None:
            pending.result()
    meta = {
        "width": spec.width,
        "height": spec.height,
        "fps": spec.fps,
        "num_frames": shots[-1].end_frame,
        "seed": spec.seed,
        "rooms": spec.rooms,
        "shots": len(shots),
        "video_sha256": video_sha256(out_dir / "tour.mp4"),  # binds the truth to this video
    }
    for old in (truth / "frames").glob("*.npz"):  # frames of an earlier, longer tour here
        if old.stem.isdigit() and int(old.stem) >= meta["num_frames"]:
            old.unlink()
    write_meta(truth, meta)
    return meta
