"""ISO's OccScanNet pickles read into the common sample dict (255 read as free)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from storage.formats import FormatError
from storage.loaders import SAMPLE_KEYS
from storage.loaders.occscannet import OccScanNetDataset
from tests.support.tiny_training import K, make_sample, write_occscannet


def test_occscannet_sample_has_common_keys_depth_and_free_for_255(tmp_path):
    write_occscannet(tmp_path, 3)
    ds = OccScanNetDataset(tmp_path, "train")
    assert len(ds) == 3
    s = ds[2]
    assert set(s) == set(SAMPLE_KEYS)
    truth = make_sample(2)
    assert np.array_equal(s["target"].numpy(), np.where(truth["target"] == 255, 0, truth["target"]))
    assert np.allclose(s["depth"].numpy(), truth["depth"].numpy(), atol=1e-3)
    assert np.allclose(s["cam_k"].numpy(), K)
    assert s["name"] == "scene0001_00/00002"


def test_without_a_split_list_every_gathered_pickle_is_used(tmp_path):
    write_occscannet(tmp_path, 2)
    (tmp_path / "train_subscenes.txt").unlink()
    assert len(OccScanNetDataset(tmp_path, "train")) == 2


def test_missing_depth_and_missing_key_name_the_pickle(tmp_path):
    files = write_occscannet(tmp_path, 2)
    files[0].with_suffix(".png").unlink()
    data = pickle.loads(files[1].read_bytes())
    del data["intrinsic"]
    files[1].write_bytes(pickle.dumps(data))
    ds = OccScanNetDataset(tmp_path, "train")
    with pytest.raises(FormatError, match=r"00000.pkl: referenced file"):
        ds[0]
    with pytest.raises(FormatError, match=r"00001.pkl: keys \['intrinsic'\] missing"):
        ds[1]


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FormatError, match="gathered_data"):
        OccScanNetDataset(tmp_path, "train")
