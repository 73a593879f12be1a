"""Synthetic-tour truth files round-trip exactly."""

import numpy as np
import pytest

from storage.formats import FormatError
from storage.truth import (
    TruthShot,
    read_meta,
    read_shots,
    read_truth_frame,
    write_meta,
    write_shots,
    write_truth_frame,
)


def test_truth_round_trip(tmp_path) -> None:
    with pytest.raises(FormatError, match="ytocc synth"):
        read_meta(tmp_path)
    write_meta(tmp_path, {"width": 8, "height": 6, "fps": 24, "num_frames": 2, "seed": 1})
    shots = [TruthShot(0, 24, True, 0), TruthShot(24, 48, False, -1)]
    write_shots(tmp_path, shots)
    depth = np.random.default_rng(0).random((6, 8)).astype(np.float32)
    write_truth_frame(tmp_path, 1, np.eye(3), np.eye(4), depth, np.full((6, 8), 3))
    assert read_meta(tmp_path)["num_frames"] == 2
    assert read_shots(tmp_path) == shots
    fr = read_truth_frame(tmp_path, 1)
    assert np.array_equal(fr["depth"], depth) and fr["labels"].dtype == np.uint8
    with pytest.raises(FormatError, match="no frame 5"):
        read_truth_frame(tmp_path, 5)
