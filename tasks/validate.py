"""Validating a video by decoding it with PyAV: displayed size, fps, decoded duration, frames.

Reads the first frame, then seeks near the end and decodes to the last frame. Lengths come
from the decoded frames' timestamps (first to last, plus one frame), never from the header
alone: the header's duration is only the yardstick a truncated file falls short of. A seek
that lands after its target or yields nothing (MPEG-TS, some WebM) is retried further back,
down to a full sequential decode, so every container yt-dlp hands us (mp4, mkv, webm with
VP9/AV1, ts) is measured the same way. A truncated file, an HTML page named .mp4 or an empty
file fails with a one-line reason; in the usual case the cost does not grow with the length.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av

from storage.markers import StageFailure
from tasks.decode import display_size, frame_seconds, rotation_of

_TAIL_S = 2.0  # seconds decoded before the declared end: covers a GOP of most web video


def probe_video(path: Path, min_duration_s: float = 0.0) -> dict[str, Any]:
    """Stats of a decodable video, or StageFailure saying why it is not one.

    Returns duration_s (decoded, s), fps, width/height (displayed, px), rotation (degrees
    counter-clockwise applied for display), start_s (first frame's time in the stream, s),
    num_frames, codec, container.
    """
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
        declared = _declared_duration(container, stream)
        try:
            first = next((f for f in container.decode(stream) if f.pts is not None), None)
            if first is None:
                raise StageFailure("no decodable frame")
            t_first = frame_seconds(first, stream) or 0.0
            t_last = _last_frame_time(container, stream, t_first, declared)
        except (av.error.FFmpegError, EOFError) as e:
            raise StageFailure(f"corrupt video: decoding failed ({type(e).__name__}: {e})") from e
        turns = rotation_of(first)
        width, height = display_size(first.width, first.height, turns)
        codec = stream.codec_context.name
        container_name = container.format.name
    decoded = t_last - t_first + 1.0 / fps
    if declared and decoded < declared - max(3.0 / fps, 0.02 * declared):
        raise StageFailure(f"truncated video: decodes {decoded:.2f} s of {declared:.2f} s")
    if decoded < min_duration_s:
        raise StageFailure(f"video too short ({decoded:.2f} s < {min_duration_s} s)")
    return {
        "duration_s": round(decoded, 3),
        "fps": round(fps, 4),
        "width": width,
        "height": height,
        "rotation": 90 * turns,
        "start_s": round(t_first, 4),
        "num_frames": int(round(decoded * fps)),
        "codec": codec,
        "container": container_name,
    }


def _last_frame_time(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    t_first: float,
    declared: float,
) -> float:
    """Time (s, stream-relative) of the last decodable frame.

    Seeks to `_TAIL_S` before the declared end and decodes to the end; a seek that yields no
    frame (past the end, or a demuxer that cannot seek there) is retried twice as far back,
    down to a sequential decode from the start.
    """
    tb = float(stream.time_base)
    start = float(stream.start_time or 0) * tb
    back = _TAIL_S
    while True:
        target = declared - back
        if target > t_first:
            container.seek(int((target + start) / tb), stream=stream)
        else:
            container.seek(0)
        times = [t for f in container.decode(stream) if (t := frame_seconds(f, stream)) is not None]
        if times or target <= t_first:
            return max(times, default=t_first)
        back *= 2


def _declared_duration(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float:
    """The header's duration (s), 0 when it declares none."""
    if stream.duration is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1e6
    return 0.0
