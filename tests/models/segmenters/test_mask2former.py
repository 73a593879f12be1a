"""Mask2Former (transformers) segmenter: loading by path, NYU-11 output, bad tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.segmenters import load_segmenter
from models.segmenters.mask2former import ADE20K_TO_NYU11, Mask2FormerSegmenter
from models.segmenters.queries import ClassTableError
from models.weights import WeightsNotFound
from storage.formats import NUM_CLASSES
from tests.models.tiny_semantics import mask2former_folder

torch.set_num_threads(1)


def test_ade_table_covers_the_150_classes_and_every_nyu_class():
    assert len(ADE20K_TO_NYU11) == 150
    assert set(ADE20K_TO_NYU11.values()) == set(range(NUM_CLASSES + 1))


def test_tiny_model_saved_with_save_pretrained_segments_a_batch(tmp_path: Path):
    folder = mask2former_folder(tmp_path / "m2f")
    seg = load_segmenter("mask2former-ade", str(folder), "cpu")
    assert seg.backend == "mask2former-ade" and seg.weights == str(folder)
    images = np.random.default_rng(0).integers(0, 255, (2, 90, 120, 3), np.uint8)
    labels, regions = seg.segment(images)
    assert labels.shape == regions.shape == (2, 90, 120)
    assert labels.dtype == np.uint8 and regions.dtype == np.int32
    assert labels.max() <= NUM_CLASSES
    assert regions.min() >= 0 and regions.max() < seg.model.config.num_queries
    assert len(np.unique(regions)) > 1  # random queries still split the image


def test_segmentation_is_deterministic_per_image_within_a_batch(tmp_path: Path):
    seg = Mask2FormerSegmenter.load(str(mask2former_folder(tmp_path / "m2f")), "cpu")
    images = np.random.default_rng(1).integers(0, 255, (2, 64, 96, 3), np.uint8)
    both, _ = seg.segment(images)
    one, _ = seg.segment(images[1:])
    np.testing.assert_array_equal(both[1], one[0])


def test_model_with_a_class_outside_the_table_fails_at_load(tmp_path: Path):
    folder = mask2former_folder(tmp_path / "m2f", names=[*ADE20K_TO_NYU11, "spaceship"])
    with pytest.raises(ClassTableError, match="spaceship"):
        Mask2FormerSegmenter.load(str(folder), "cpu")


def test_missing_local_weights_say_where_they_were_looked_for(tmp_path: Path):
    with pytest.raises(WeightsNotFound, match="does not exist"):
        Mask2FormerSegmenter.load(str(tmp_path / "absent"), "cpu")


def test_missing_hub_weights_name_the_id_and_how_to_fetch_them():
    with pytest.raises(
        WeightsNotFound, match=r"facebook/mask2former-none.*hf download facebook/mask2former-none"
    ):
        Mask2FormerSegmenter.load("facebook/mask2former-none", "cpu")
