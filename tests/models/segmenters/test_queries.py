"""Query masks → NYU-11 labels and regions (shared by Mask2Former and SAN)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.segmenters.queries import ClassTableError, class_lut, queries_to_labels


def _two_queries() -> tuple[torch.Tensor, torch.Tensor]:
    """Query 0 is class 'a' on the left half, query 1 class 'b' on the right half."""
    cls = torch.full((1, 2, 4), -10.0)
    cls[0, 0, 0] = 10.0
    cls[0, 1, 1] = 10.0
    masks = torch.full((1, 2, 4, 4), -10.0)
    masks[0, 0, :, :2] = 10.0
    masks[0, 1, :, 2:] = 10.0
    return cls, masks


def test_each_pixel_takes_the_nyu_class_and_query_of_the_mask_covering_it():
    cls, masks = _two_queries()
    lut = class_lut(["a", "b", "c"], {"a": 3, "b": 7, "c": 0}, "toy")
    labels, regions = queries_to_labels(cls, masks, lut, (8, 8))
    assert labels.dtype == np.uint8 and regions.dtype == np.int32
    assert (labels[0, :, :4] == 3).all() and (labels[0, :, 4:] == 7).all()
    assert (regions[0, :, :4] == 0).all() and (regions[0, :, 4:] == 1).all()


def test_valid_crop_drops_the_padded_part_of_the_masks():
    cls, masks = _two_queries()
    lut = class_lut(["a", "b", "c"], {"a": 3, "b": 7, "c": 0}, "toy")
    labels, _ = queries_to_labels(cls, masks, lut, (4, 4), valid=(4, 2))
    assert (labels == 3).all()


def test_class_missing_from_the_table_is_refused_with_its_name():
    with pytest.raises(ClassTableError, match="spaceship"):
        class_lut(["wall", "spaceship"], {"wall": 3}, "toy")


def test_table_entries_outside_nyu11_are_refused():
    with pytest.raises(ClassTableError, match="outside"):
        class_lut(["wall"], {"wall": 12}, "toy")


def test_a_class_id_beyond_the_table_is_an_error_not_a_wrong_label():
    cls, masks = _two_queries()
    lut = class_lut(["a", "b"], {"a": 3, "b": 7}, "toy")  # model scores 3 classes
    with pytest.raises(ClassTableError, match="3 classes"):
        queries_to_labels(cls, masks, lut, (4, 4))
