"""SAN adapter: the NYU-11 vocabulary, its COCO-Stuff padding, and the install error."""

from __future__ import annotations

import importlib.util

import pytest

from models.segmenters import load_segmenter
from models.segmenters.san import NYU11_SYNONYMS, SanNotInstalled, vocabulary
from storage.formats import CLASS_NAMES

COCO_SAMPLE = ["person", "tv", "sky-other", "wall-brick", "tree", "couch", "chair", "floor-wood"]


def test_every_class_is_prompted_and_each_synonym_maps_back_to_its_class():
    names, lut = vocabulary()
    assert set(NYU11_SYNONYMS) == set(range(1, len(CLASS_NAMES) + 1))
    assert len(names) == len(set(names)) == len(lut)
    by_name = dict(zip(names, lut.tolist(), strict=True))
    assert by_name["television"] == by_name["monitor"] == CLASS_NAMES.index("tvs") + 1
    assert by_name["couch"] == CLASS_NAMES.index("sofa") + 1


def test_coco_stuff_padding_maps_our_classes_and_sends_scenery_to_none():
    names, lut = vocabulary(COCO_SAMPLE)
    by_name = dict(zip(names, lut.tolist(), strict=True))
    assert names.count("chair") == 1  # already a synonym: not padded twice
    assert by_name["sky-other"] == 0 and by_name["tree"] == 0
    assert by_name["wall-brick"] == CLASS_NAMES.index("wall") + 1
    assert by_name["tv"] == CLASS_NAMES.index("tvs") + 1
    assert by_name["floor-wood"] == CLASS_NAMES.index("floor") + 1


@pytest.mark.skipif(importlib.util.find_spec("detectron2") is not None, reason="SAN installed")
def test_missing_detectron2_is_one_clear_error_with_the_install_line():
    with pytest.raises(SanNotInstalled, match=r"pip install .*detectron2.*MendelXu/SAN"):
        load_segmenter("san", "Mendel192/san/san_vit_b_16.pth", "cpu")
