"""MonoScene's NYUv2 pickles read into the common sample dict; bad files are named."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from storage.formats import FormatError
from storage.loaders import SAMPLE_KEYS
from storage.loaders.nyuv2 import NYU_K, NYUv2Dataset, read_pickle
from tests.support.tiny_training import make_sample, write_nyu


def test_nyu_sample_has_common_keys_xyz_target_and_scaled_k(tmp_path):
    write_nyu(tmp_path, 2)
    ds = NYUv2Dataset(tmp_path, "train")
    s = ds[1]
    assert set(s) == set(SAMPLE_KEYS)
    assert s["target"].shape == (60, 60, 36)
    assert np.array_equal(s["target"].numpy(), make_sample(1)["target"].numpy())  # (x,z,y)→(x,y,z)
    assert s["image"].shape == (3, 48, 64)
    assert np.allclose(s["cam_k"].numpy()[0, 0], NYU_K[0, 0] * 64 / 640)
    assert s["name"] == "NYU0001_0000"
    assert (s["regions"] == -1).all() and (s["depth"] == 0).all()


def test_resize_scales_the_intrinsics(tmp_path):
    write_nyu(tmp_path, 1)
    s = NYUv2Dataset(tmp_path, "train", image_hw=(24, 32))[0]
    assert s["image"].shape == (3, 24, 32)
    assert np.allclose(s["cam_k"].numpy()[:2, 2], [16.0, 12.0])


def test_missing_image_and_bad_shapes_name_the_file(tmp_path):
    files = write_nyu(tmp_path, 2)
    (tmp_path / "NYUtrain" / "NYU0000_0000_color.jpg").unlink()
    data = pickle.loads(files[1].read_bytes())
    data["target_1_4"] = np.zeros((60, 60, 36), np.uint8)
    files[1].write_bytes(pickle.dumps(data))
    ds = NYUv2Dataset(tmp_path, "train")
    with pytest.raises(FormatError, match="NYU0000_0000.pkl.*image"):
        ds[0]
    with pytest.raises(FormatError, match=r"NYU0001_0000.pkl: target_1_4 has shape"):
        ds[1]


def test_all_unknown_target_is_an_error(tmp_path):
    files = write_nyu(tmp_path, 1)
    data = pickle.loads(files[0].read_bytes())
    data["target_1_4"][:] = 255
    files[0].write_bytes(pickle.dumps(data))
    with pytest.raises(FormatError, match="all 255"):
        NYUv2Dataset(tmp_path, "train")[0]


def test_pickles_that_build_other_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"cam_pose": print}))
    with pytest.raises(FormatError, match="refusing"):
        read_pickle(path, ("cam_pose",))


def test_folder_without_pickles_is_a_clear_error(tmp_path):
    with pytest.raises(FormatError, match="no NYUtrain pickles"):
        NYUv2Dataset(tmp_path, "train")
