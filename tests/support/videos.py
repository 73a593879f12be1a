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


ROOM_A = "testsrc2=size={w}x{h}:rate={fps}"  # moving, colourful: one "room"
ROOM_B = "mandelbrot=size={w}x{h}:rate={fps}"  # zooming, another palette: the other "room"


def _room(src: str, w: int, h: int, fps: int, seconds: float) -> str:
    """A lavfi source cut to `seconds`, in one pixel format and time base (xfade needs both)."""
    return (f"{src.format(w=w, h=h, fps=fps)},trim=duration={seconds},setpts=PTS-STARTPTS,"
            "format=yuv420p")  # fmt: skip


def lavfi_video(path: Path, graph: str, *, args: tuple[str, ...] = ()) -> Path:
    """Encode the ffmpeg filter graph `graph` (lavfi sources, output pad [v]) to `path`."""
    import subprocess

    cmd = ["ffmpeg", "-v", "error", "-y", "-filter_complex", graph, "-map", "[v]",
           "-pix_fmt", "yuv420p", *args, str(path)]  # fmt: skip
    subprocess.run(cmd, check=True)
    return path


def two_rooms(path: Path, transition: str, *, seconds: float = 4.0, overlap: float = 2.0,
              fps: int = 24, size: tuple[int, int] = (160, 120)) -> tuple[int, int]:  # fmt: skip
    """Two "rooms" joined by ffmpeg's xfade `transition` (fade, dissolve, wipeleft, ...).

    Returns the transition's frames [start, end): every frame in it mixes both rooms.
    """
    w, h = size
    a, b = (_room(r, w, h, fps, seconds + overlap) for r in (ROOM_A, ROOM_B))
    graph = (f"{a}[a];{b}[b];[a][b]xfade=transition={transition}:duration={overlap}:offset={seconds}[v]")  # fmt: skip
    lavfi_video(path, graph, args=("-c:v", "libx264", "-preset", "ultrafast"))
    return int(round(seconds * fps)), int(round((seconds + overlap) * fps))


def short_shot(path: Path, *, seconds: float = 3.0, short_frames: int = 5, fps: int = 24,
               size: tuple[int, int] = (160, 120)) -> tuple[int, int]:  # fmt: skip
    """Room A, a shot of `short_frames` frames of room B, room A again; returns B's frames."""
    w, h = size
    a, b = _room(ROOM_A, w, h, fps, seconds), _room(ROOM_B, w, h, fps, short_frames / fps)
    graph = f"{a}[a1];{b}[b];{a}[a2];[a1][b][a2]concat=n=3[v]"
    lavfi_video(path, graph, args=("-c:v", "libx264", "-preset", "ultrafast"))
    start = int(round(seconds * fps))
    return start, start + short_frames


CONTAINERS = {  # name: (file suffix, encoder arguments), the forms yt-dlp hands over
    "mp4-h264": (".mp4", ("-c:v", "libx264", "-preset", "ultrafast")),
    "mkv-h264": (".mkv", ("-c:v", "libx264", "-preset", "ultrafast")),
    "webm-vp9": (".webm", ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8")),
    "webm-av1": (".webm", ("-c:v", "libaom-av1", "-cpu-used", "8", "-usage", "realtime")),
    "mpegts-h264": (".ts", ("-c:v", "libx264", "-preset", "ultrafast", "-f", "mpegts")),
    "mp4-offset-start": (".mp4", ("-c:v", "libx264", "-preset", "ultrafast",
                                  "-output_ts_offset", "5")),
}  # fmt: skip


def clip_in(folder: Path, container: str, *, seconds: float = 3.0, fps: int = 24,
            size: tuple[int, int] = (160, 120)) -> Path:  # fmt: skip
    """`seconds` of ffmpeg's moving test pattern in one of :data:`CONTAINERS`."""
    suffix, args = CONTAINERS[container]
    w, h = size
    return lavfi_video(folder / f"{container}{suffix}", f"{_room(ROOM_A, w, h, fps, seconds)}[v]",
                       args=args)  # fmt: skip


def rotated(src: Path, dst: Path, degrees: int) -> Path:
    """A copy of `src` whose display matrix says: turn by `degrees` (a phone held sideways)."""
    import subprocess

    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c", "copy",
                    "-metadata:s:v:0", f"rotate={degrees}", str(dst)], check=True)  # fmt: skip
    return dst


def with_edit_list(src: Path, dst: Path, skip_s: float = 0.5) -> Path:
    """A stream copy of `src` from `skip_s` on: MP4 keeps the cut as an edit list."""
    import subprocess

    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", str(skip_s), "-i", str(src), "-c",
                    "copy", str(dst)], check=True)  # fmt: skip
    return dst


def display_frames(path: Path) -> np.ndarray:
    """Every frame of `path` as ffmpeg shows it (autorotated), RGB (F,H,W,3): the oracle."""
    import subprocess

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        first = next(c.decode(s))
        turned = round((first.rotation or 0) / 90) % 2
        w, h = (s.height, s.width) if turned else (s.width, s.height)
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


def smeared(path: Path, frames: tuple[int, int], *, soft: float = 0.0, seconds: float = 3.0,
            fps: int = 24, size: tuple[int, int] = (320, 240)) -> Path:  # fmt: skip
    """ffmpeg's test pattern with sensor noise, optionally soft (Gaussian blur σ=`soft`), its
    frames [a, b] smeared by a horizontal motion blur (dblur radius 6)."""
    w, h = size
    a, b = frames
    soften = f"gblur=sigma={soft}," if soft else ""
    graph = (f"{_room(ROOM_A, w, h, fps, seconds)},{soften}noise=alls=3:allf=t,"
             f"dblur=angle=0:radius=6:enable='between(n\\,{a}\\,{b})'[v]")  # fmt: skip
    return lavfi_video(path, graph, args=("-c:v", "libx264", "-preset", "ultrafast", "-crf", "18"))
