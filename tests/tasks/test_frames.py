"""Frame sampling: evenly spread, blurry candidates skipped, working size respected."""

import cv2
import numpy as np

from storage.atomic import read_json
from storage.config import load_config
from storage.formats import ClipInfo, write_clip_info
from storage.stages import run_item_stage
from tasks import frames
from tests.support.videos import write_video


def test_blurry_candidates_are_not_picked() -> None:
    rng = np.random.default_rng(0)
    sharp = (rng.random((60, 80, 3)) * 255).astype(np.uint8)
    images = [sharp if i % 3 else cv2.GaussianBlur(sharp, (15, 15), 5) for i in range(12)]
    cands = np.arange(12) * 10
    chosen = frames.pick_sharp(cands, frames.sharpness(images), 4, ratio=0.35)
    assert len(chosen) == 4 and all((c // 10) % 3 for c in chosen)
    assert chosen[0] == 10 and chosen[-1] == 110  # spread over the whole clip


def test_frames_stage_writes_the_configured_count_and_index(root) -> None:
    cfg = load_config(overrides=["frames.per_clip=6", "frames.long_side=80"])
    root.video_file("v").parent.mkdir(parents=True)
    write_video(root.video_file("v"), [48, 72])
    for stage in ("download", "shots"):
        run_item_stage(root, cfg, "v", stage, lambda: None)
    write_clip_info(root.clip_json("v-001"), ClipInfo("v-001", "v", 1, 48, 120, 2.0, 5.0, 24.0))
    m = frames.run(root, cfg, "v-001")
    assert m.status == "ok" and m.stats["frames"] == 6
    jpgs = sorted(root.frames_dir("v-001").glob("*.jpg"))
    assert [p.stem for p in jpgs] == [f"{k:04d}" for k in range(6)]
    assert cv2.imread(str(jpgs[0])).shape == (60, 80, 3)
    index = read_json(root.frames_index("v-001"))
    assert len(index["video_frames"]) == 6 and index["scale"] == 0.5
    assert all(48 <= f < 120 for f in index["video_frames"]) and index["video_frames"] == sorted(
        index["video_frames"]
    )
