"""Decoding video frames the way a player shows them: display orientation, decoded timestamps.

Every stage that decodes a video (validation, shots, frames) goes through here, so all of
them agree on two things:

- **orientation**: a phone video stores its pixels sideways and a display matrix saying how to
  turn them; frames are returned turned (as ``ffmpeg``'s autorotate does), so every stored size
  is the displayed size;
- **frame numbers**: the frame number of a decoded frame is its presentation time, relative to
  the stream's start time, times the frame rate (PySceneDetect's PyAV backend numbers frames
  the same way), so non-zero start times (MPEG-TS) and edit lists (MP4) shift nothing.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def rotation_of(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns (0..3) that bring `frame` to its display orientation.

    PyAV's ``VideoFrame.rotation`` reads the frame's display matrix (degrees, counter-clockwise,
    in [-180, 180]); ``np.rot90(image, k)`` with this k equals ffmpeg's autorotated output.
    """
    return int(round(float(getattr(frame, "rotation", 0) or 0) / 90.0)) % 4


def to_display(image: np.ndarray, turns: int) -> np.ndarray:
    """`image` (H,W,C) turned by `turns` counter-clockwise quarter turns, contiguous."""
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def display_size(width: int, height: int, turns: int) -> tuple[int, int]:
    """(width, height) as displayed: swapped for a quarter or three-quarter turn."""
    return (height, width) if turns % 2 else (width, height)


def frame_seconds(frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> float | None:
    """Presentation time of `frame` in seconds relative to the stream's start time (or None)."""
    if frame.pts is None:
        return None
    tb = float(frame.time_base or stream.time_base)
    start = float(stream.start_time or 0) * float(stream.time_base)
    return float(frame.pts) * tb - start


def frame_index(frame: av.VideoFrame, stream: av.video.stream.VideoStream, fps: float) -> int:
    """The frame number of `frame` (time since the stream start × fps, rounded); -1 if untimed."""
    t = frame_seconds(frame, stream)
    return -1 if t is None else int(round(t * fps))


def decode_frames(path: Path, wanted: np.ndarray, fps: float) -> dict[int, np.ndarray]:
    """RGB frames (display orientation) of `path` at the frame numbers `wanted`, one pass.

    Seeks to the keyframe before the first wanted frame; a seek that yields nothing or lands
    after its target (MPEG-TS cannot seek exactly) is redone as a decode from the start.
    Raises ``av.error.FFmpegError`` / ``OSError`` from PyAV on an unreadable file.
    """
    want = {int(i) for i in wanted}
    out, landed = _decode_from(path, want, fps, min(want) / fps)
    if landed is None or landed > min(want):  # the seek yielded nothing, or overshot
        out, _ = _decode_from(path, want, fps, 0.0)
    return out


def _decode_from(
    path: Path, want: set[int], fps: float, seconds: float
) -> tuple[dict[int, np.ndarray], int | None]:
    """Frames of `want` decoded after a seek to `seconds`, and the first frame number seen."""
    out: dict[int, np.ndarray] = {}
    landed = None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if seconds > 0:
            start = float(stream.start_time or 0) * float(stream.time_base)
            container.seek(int((seconds + start) / float(stream.time_base)), stream=stream)
        for frame in container.decode(stream):
            idx = frame_index(frame, stream, fps)
            landed = idx if landed is None else landed
            if idx in want:
                out[idx] = to_display(frame.to_ndarray(format="rgb24"), rotation_of(frame))
            if idx >= max(want):
                break
    return out, landed
