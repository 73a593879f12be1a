"""Frame sampling: evenly spread, blurry candidates skipped, working size respected."""

import cv2
import numpy as np
import pytest

from storage.atomic import read_json
from storage.config import load_config
from storage.formats import ClipInfo, write_clip_info
from storage.markers import read_marker
from storage.stages import run_item_stage
from tasks import download, frames
from tasks.sources import VideoSource
from tests.support.videos import clip_in, display_frames, rotated, smeared, write_video


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


def _one_clip(root, video, cfg) -> str:
    assert download.run(root, cfg, VideoSource("v", str(video), local=True)).status == "ok"
    n = read_marker(root.video_marker("v", "download")).stats["num_frames"]
    run_item_stage(root, cfg, "v", "shots", lambda: None)
    write_clip_info(root.clip_json("v-000"), ClipInfo("v-000", "v", 0, 0, n, 0.0, n / 24, 24.0))
    return "v-000"


@pytest.mark.parametrize("soft", [2.5, 0.0], ids=["soft-footage", "sharp-footage"])
def test_smeared_frames_are_rejected_relative_to_the_clips_own_sharpness(root, tmp_path, soft):
    video = smeared(tmp_path / "v.mp4", (30, 35), soft=soft)
    cfg = load_config(overrides=["frames.per_clip=12"])
    clip = _one_clip(root, video, cfg)
    m = frames.run(root, cfg, clip)
    chosen = read_json(root.frames_index(clip))["video_frames"]
    smeared_candidates = [c for c in range(0, 72, 2) if 30 <= c <= 35]
    assert not [f for f in chosen if 30 <= f <= 35], chosen
    assert m.stats["candidates"] == 36
    assert m.stats["rejected_blurry"] >= len(smeared_candidates) == 3
    assert m.stats["rejected_blurry"] <= 4  # the steady frames stay (≥ 0.9 of the median)


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_stored_frames_are_upright_and_have_the_displayed_size(root, tmp_path, degrees) -> None:
    src = clip_in(tmp_path, "mp4-h264", size=(160, 96))
    video = rotated(src, tmp_path / "r.mp4", degrees)
    cfg = load_config(overrides=["frames.per_clip=4"])
    clip = _one_clip(root, video, cfg)
    assert frames.run(root, cfg, clip).status == "ok"
    shown = display_frames(video)
    k0 = read_json(root.frames_index(clip))["video_frames"][0]
    stored = cv2.cvtColor(cv2.imread(str(root.frame_path(clip, 0))), cv2.COLOR_BGR2RGB)
    assert stored.shape == shown[k0].shape
    err = np.abs(stored.astype(int) - shown[k0]).mean()
    upside_down = np.abs(stored.astype(int) - np.rot90(shown[k0], 2)).mean()
    assert err < upside_down / 4, (err, upside_down)  # JPEG's own error is far below a turn
