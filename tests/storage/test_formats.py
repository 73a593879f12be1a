"""Sample, cloud, segment and recon files: writers refuse what readers could not trust."""

import numpy as np
import pytest

from storage.config import GRID_DIMS, VOXEL_SIZE
from storage.formats import (
    FormatError,
    read_align,
    read_cloud,
    read_recon,
    read_sample,
    write_cloud,
    write_recon,
    write_sample,
    write_segment,
)


def _sample(**over):
    base = dict(
        target=np.zeros(GRID_DIMS, np.uint8),
        voxel_origin=np.zeros(3),
        cam_k=np.eye(3),
        cam_pose=np.eye(4),
        depth=np.ones((4, 6)),
        frame="clips/v-000/frames/0000.jpg",
        voxel_size=VOXEL_SIZE,
        dims=GRID_DIMS,
    )
    return base | over


def test_sample_round_trip_keeps_dtypes_and_frame_path(tmp_path) -> None:
    t = np.zeros(GRID_DIMS, np.uint8)
    t[1, 2, 3], t[0, 0, 0] = 7, 255
    write_sample(tmp_path / "s.npz", **_sample(target=t))
    s = read_sample(tmp_path / "s.npz")
    assert s["target"].dtype == np.uint8 and s["target"][1, 2, 3] == 7
    assert s["cam_pose"].dtype == np.float32 and s["voxel_size"] == pytest.approx(0.08)
    assert s["frame"] == "clips/v-000/frames/0000.jpg"


@pytest.mark.parametrize(
    "over, match",
    [
        ({"target": np.full(GRID_DIMS, 12, np.uint8)}, "outside"),
        ({"target": np.zeros((60, 60, 35), np.uint8)}, "shape"),
        ({"cam_k": np.eye(4)}, "cam_k"),
        ({"dims": (40, 40, 24)}, "grid is"),
        ({"voxel_size": 0.0}, "voxel size"),
        ({"voxel_origin": np.full(3, np.nan)}, "origin"),
    ],
)
def test_bad_samples_are_refused_and_nothing_is_written(tmp_path, over, match) -> None:
    with pytest.raises(FormatError, match=match):
        write_sample(tmp_path / "s.npz", **_sample(**over))
    assert not list(tmp_path.iterdir())


def test_cloud_arrays_must_agree_in_length(tmp_path) -> None:
    n = 5
    write_cloud(
        tmp_path / "c.npz",
        np.zeros((n, 3)),
        np.zeros((n, 3)),
        np.zeros(n),
        np.arange(n),
        np.arange(n),
    )
    assert read_cloud(tmp_path / "c.npz")["pixel"].dtype == np.uint32
    with pytest.raises(FormatError, match="length"):
        write_cloud(
            tmp_path / "d.npz",
            np.zeros((n, 3)),
            np.zeros((n, 3)),
            np.zeros(n - 1),
            np.arange(n),
            np.arange(n),
        )


def test_segment_labels_outside_the_classes_are_refused(tmp_path) -> None:
    with pytest.raises(FormatError, match="outside 0..11"):
        write_segment(tmp_path / "s.npz", np.full((2, 2), 40), np.zeros((2, 2)))


def test_recon_extra_keys_survive_and_truncated_files_are_format_errors(tmp_path) -> None:
    f = 2
    write_recon(tmp_path / "r.npz", np.tile(np.eye(3), (f, 1, 1)), np.tile(np.eye(4), (f, 1, 1)),
                np.ones((f, 3, 4)), np.ones((f, 3, 4)), similarity=np.eye(4))  # fmt: skip
    assert read_recon(tmp_path / "r.npz")["similarity"].shape == (4, 4)
    data = (tmp_path / "r.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError):
        read_recon(tmp_path / "t.npz")


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"scale": float("nan")}, "scale must be finite"),
        ({"scale": -1.0}, "scale must be finite and positive"),
        ({"scale": [1.0, 2.0]}, "scale must be finite and positive"),
        ({"scale": "big"}, "scale is not numeric"),
        ({"rotation": [[2.0, 0, 0], [0, 1, 0], [0, 0, 1]]}, "not a 3×3 rotation"),
        ({"rotation": None}, "not a 3×3 rotation"),
        ({"rotation": [[-1.0, 0, 0], [0, 1, 0], [0, 0, 1]]}, "reflection"),
        ({"translation": [0.0, float("inf"), 0.0]}, "translation must be 3 finite"),
        ({"translation": [0.0, 0.0]}, "translation must be 3 finite"),
        ({"translation": None}, "translation must be 3 finite"),
    ],
)
def test_read_align_names_the_bad_field(tmp_path, change: dict, reason: str) -> None:
    """align.json is read by voxelize and the dataset: a damaged field is named with the file."""
    import json

    good = {"rotation": np.eye(3).tolist(), "translation": [0.0, 0.0, 0.0], "scale": 1.0}
    path = tmp_path / "align.json"
    path.write_text(json.dumps(good))
    assert read_align(path) == good
    path.write_text(json.dumps(good | change))  # json writes NaN/Infinity, as a bad writer would
    with pytest.raises(FormatError, match=reason) as err:
        read_align(path)
    assert str(err.value).startswith(f"{path}: ")
