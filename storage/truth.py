"""Ground truth of a synthetic house tour: the files `ytocc synth` writes and synthetic-gt reads.

Layout under ``truth/``: ``meta.json``, ``shots.json``, ``rooms.json`` and
``frames/{i:05d}.npz`` per video frame (K at video size, cam2world with OpenCV camera axes in a
z-up metric world with the floor at z = 0, metric z-depth with 0 = no hit, NYU-11 labels).
``meta.json`` records ``video_sha256``, the SHA-256 of the tour's encoded video: a truth is bound
to its video, and :func:`synthetic_truth` hands a clip only the truth of the clip's own video.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from storage.atomic import read_json, write_json, write_npz
from storage.formats import FormatError
from storage.frames import ClipFrames
from storage.ids import video_id_of_clip
from storage.markers import StageFailure


@dataclass(frozen=True)
class TruthShot:
    """One shot of the tour: video frames [start_frame, end_frame), its room, indoor or not."""

    start_frame: int
    end_frame: int
    indoor: bool
    room: int


def truth_frame_path(truth_dir: Path, i: int) -> Path:
    return Path(truth_dir) / "frames" / f"{i:05d}.npz"


def write_meta(truth_dir: Path, meta: dict[str, Any]) -> None:
    write_json(Path(truth_dir) / "meta.json", meta)


def read_meta(truth_dir: Path) -> dict[str, Any]:
    """{"width", "height", "fps", "num_frames", "seed", ...} of the tour video."""
    path = Path(truth_dir) / "meta.json"
    if not path.exists():
        raise FormatError(
            f"no synthetic truth at {truth_dir} (missing meta.json; run `ytocc synth`)"
        )
    return read_json(path)


def write_shots(truth_dir: Path, shots: list[TruthShot]) -> None:
    write_json(Path(truth_dir) / "shots.json", [asdict(s) for s in shots])


def read_shots(truth_dir: Path) -> list[TruthShot]:
    return [TruthShot(**s) for s in read_json(Path(truth_dir) / "shots.json")]


def write_rooms(truth_dir: Path, rooms: list[dict[str, Any]]) -> None:
    write_json(Path(truth_dir) / "rooms.json", rooms)


def read_rooms(truth_dir: Path) -> list[dict[str, Any]]:
    return read_json(Path(truth_dir) / "rooms.json")


def write_truth_frame(
    truth_dir: Path,
    i: int,
    K: np.ndarray,
    cam2world: np.ndarray,
    depth: np.ndarray,
    labels: np.ndarray,
) -> None:
    write_npz(
        truth_frame_path(truth_dir, i),
        K=np.asarray(K, np.float32),
        cam2world=np.asarray(cam2world, np.float32),
        depth=np.asarray(depth, np.float32),
        labels=np.asarray(labels, np.uint8),
    )


def read_truth_frame(truth_dir: Path, i: int) -> dict[str, np.ndarray]:
    """K (3,3), cam2world (4,4), depth (H,W) and labels (H,W) of video frame `i`."""
    path = truth_frame_path(truth_dir, i)
    if not path.exists():
        raise FormatError(f"synthetic truth has no frame {i} ({path})")
    with np.load(path) as z:
        return {k: z[k] for k in ("K", "cam2world", "depth", "labels")}


def truth_folder(truth_dir: Path) -> Path:
    """The truth folder for `truth_dir`: the `ytocc synth` OUT_DIR (its ``truth/``) or it itself."""
    inner = Path(truth_dir) / "truth"
    return inner if (inner / "meta.json").exists() else Path(truth_dir)


def tour_truths(truth_dir: Path) -> list[Path]:
    """The finished truth folders `truth_dir` names: one tour (OUT_DIR or OUT_DIR/truth), else
    each child folder that is one (a folder of tours); [] when none. Finished = has meta.json."""
    one = truth_folder(truth_dir)
    if (one / "meta.json").exists():
        return [one]
    if not Path(truth_dir).is_dir():
        return []
    children = (truth_folder(c) for c in sorted(Path(truth_dir).iterdir()) if c.is_dir())
    return [c for c in children if (c / "meta.json").exists()]


@functools.lru_cache(maxsize=256)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def video_sha256(video: Path) -> str:
    """Hex SHA-256 of the file's bytes, memoised per (path, size, mtime): a changed file is re-read."""
    st = Path(video).stat()
    return _digest(str(Path(video).resolve()), st.st_size, st.st_mtime_ns)


def bind_video(truth_dir: Path, video: Path) -> None:
    """Record `video`'s SHA-256 as ``video_sha256`` in the truth's meta.json (the truth is of it)."""
    folder = truth_folder(truth_dir)
    write_meta(folder, {**read_meta(folder), "video_sha256": video_sha256(video)})


def synthetic_truth(cfg: Any, stage: str, clip: ClipFrames) -> Path:
    """The truth folder of `clip`'s video that a synthetic-gt backend of `stage` reads.

    ``cfg.truth_dir`` is one tour or a folder of tours; the truth whose meta ``video_sha256``
    equals the SHA-256 of the clip's video file (``videos/<id>/video.mp4``) is the clip's. A clip
    with no data root (``reconstruct-images``) has no video to check: `truth_dir` must then be one
    tour. Errors (StageFailure, one line): no truth_dir, no truth there, no video file, a truth
    made before the binding (no ``video_sha256``), no truth of this video, several tours and no video.
    """
    if cfg.truth_dir is None:
        raise StageFailure(
            f"{stage} backend synthetic-gt needs truth_dir (the `ytocc synth` output)"
        )
    tours = tour_truths(cfg.truth_dir)
    if not tours:
        raise StageFailure(f"no synthetic truth at {cfg.truth_dir} (run `ytocc synth OUT_DIR`)")
    if clip.root is None:
        if len(tours) > 1:
            raise StageFailure(
                f"{stage} backend synthetic-gt: {clip.clip_id} has no video to pick its truth by "
                f"and truth_dir {cfg.truth_dir} holds {len(tours)} tours; name one tour's folder"
            )
        return tours[0]
    video = clip.root.video_file(video_id_of_clip(clip.clip_id))
    if not video.is_file():
        raise StageFailure(
            f"no video file {clip.root.relative(video)} to match the synthetic truth against"
        )
    digest = video_sha256(video)
    unbound = []
    for folder in tours:
        try:
            bound = read_meta(folder).get("video_sha256")
        except (ValueError, OSError, AttributeError) as e:  # not JSON, unreadable, not an object
            raise StageFailure(f"synthetic truth {folder / 'meta.json'} is unreadable ({e})") from e
        if bound == digest:
            return folder
        if bound is None:
            unbound.append(folder)
    if unbound:
        raise StageFailure(
            f"synthetic truth {unbound[0]} records no video_sha256 (made before truth was bound "
            f"to its video): re-run `ytocc synth` for it"
        )
    raise StageFailure(
        f"no synthetic truth under {cfg.truth_dir} is of video {clip.root.relative(video)}"
    )
