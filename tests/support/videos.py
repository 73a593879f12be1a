"""Small generated videos with known hard cuts, and broken files, for harvest tests."""

from __future__ import annotations

from pathlib import Path

import av
import av.logging
import cv2
import numpy as np


def texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random smooth colour texture with edges (so cuts and motion are visible)."""
    base = rng.random((h // 16 + 2, w // 16 + 2, 3)).astype(np.float32)
    tex = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(255 * tex, 0, 255).astype(np.uint8)


def shot_frames(rng: np.random.Generator, n: int, w: int, h: int, static: bool = False):
    """`n` frames panning over one texture (or frozen when `static`)."""
    big = texture(rng, h + 64, w + 64 + 4 * n)
    for i in range(n):
        x = 0 if static else i
        yield big[32 : 32 + h, x : x + w]


def write_video(path: Path, shots: list[int], *, fps: int = 24, size: tuple[int, int] = (160, 120),
                seed: int = 0, static: bool = False) -> list[int]:  # fmt: skip
    """Write an H.264 mp4 of consecutive shots of the given frame counts; return the cut frames."""
    rng = np.random.default_rng(seed)
    w, h = size
    av.logging.set_level(av.logging.ERROR)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "20"}
        for n in shots:
            for img in shot_frames(rng, n, w, h, static):
                for packet in stream.encode(
                    av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                ):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return list(np.cumsum(shots)[:-1])


def truncate(src: Path, dst: Path, keep: float = 0.5) -> Path:
    """A copy of `src` cut to `keep` of its bytes (an interrupted download)."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst
