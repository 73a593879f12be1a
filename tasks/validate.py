"""Validating a video by decoding it with PyAV: size, fps, duration, frame count.

Reads the first frame, then seeks near the end and decodes to the last frame: a truncated
file, an HTML page named .mp4, or an empty file all fail here with a one-line reason,
in constant time whatever the video's length.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av

from storage.markers import StageFailure


def probe_video(path: Path, min_duration_s: float = 0.0) -> dict[str, Any]:
    """Stats of a decodable video, or StageFailure saying why it is not one."""
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        raise StageFailure("empty file (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as e:
        raise StageFailure(f"not a video ({type(e).__name__}: {e})") from e
    with container:
        if not container.streams.video:
            raise StageFailure("no video stream")
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        if fps <= 0:
            raise StageFailure("video stream has no frame rate")
        tb = float(stream.time_base)
        duration = _duration(container, stream)
        try:
            first = next(container.decode(stream), None)
            if first is None:
                raise StageFailure("no decodable frame")
            start = float(first.pts or 0) * tb
            container.seek(int(max(duration - 2.0, 0.0) / tb) + int(start / tb), stream=stream)
            last = start
            for frame in container.decode(stream):
                last = float(frame.pts) * tb if frame.pts is not None else last
        except (av.error.FFmpegError, EOFError) as e:
            raise StageFailure(f"corrupt video: decoding failed ({type(e).__name__}: {e})") from e
        decoded = last - start + 1.0 / fps
        if duration and decoded < duration - max(3.0 / fps, 0.02 * duration):
            raise StageFailure(f"truncated video: decodes {decoded:.2f} s of {duration:.2f} s")
        duration = duration or decoded
        if duration < min_duration_s:
            raise StageFailure(f"video too short ({duration:.2f} s < {min_duration_s} s)")
        return {
            "duration_s": round(duration, 3),
            "fps": round(fps, 4),
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "num_frames": int(stream.frames or round(duration * fps)),
            "codec": stream.codec_context.name,
        }


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1e6
    return 0.0
