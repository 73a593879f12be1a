"""Reading a clip's stored frames: a broken file fails its clip with a reason naming it."""

import numpy as np
import pytest
from PIL import Image

from storage.frames import read_clip_frames
from storage.markers import StageFailure


def _frames(root, clip: str, count: int) -> list:
    paths = [root.frame_path(clip, k) for k in range(count)]
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    for p in paths:
        Image.fromarray(np.full((12, 16, 3), 90, np.uint8)).save(p, quality=95)
    return paths


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
        lambda p: p.write_bytes(b""),
        lambda p: p.write_text("<html>not a picture</html>"),
    ],
    ids=["truncated", "empty", "not-an-image"],
)
def test_an_unreadable_frame_names_its_file(root, damage) -> None:
    paths = _frames(root, "v-000", 3)
    damage(paths[1])
    with pytest.raises(StageFailure, match=r"frame clips/v-000/frames/0001\.jpg is unreadable"):
        read_clip_frames(root, "v-000", 3)


def test_good_frames_read_as_one_array(root) -> None:
    _frames(root, "v-000", 2)
    assert read_clip_frames(root, "v-000", 2).shape == (2, 12, 16, 3)
