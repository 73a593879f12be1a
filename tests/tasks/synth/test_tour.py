"""The tour from `ytocc synth`: decodes fully, cuts where shots.json says, truth agrees with the
video on every shot, and a seed fixes everything."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np

from storage.truth import read_meta, read_rooms, read_shots, read_truth_frame, truth_frame_path
from tests.tasks.synth.conftest import synth_cli
from tests.tasks.synth.test_render import warp_error


def decode(video: Path) -> np.ndarray:
    with av.open(str(video)) as box:
        return np.stack([f.to_ndarray(format="rgb24") for f in box.decode(video=0)])


def test_video_decodes_to_every_truth_frame_and_shots_tile_it(tour: Path):
    meta = read_meta(tour / "truth")
    frames = decode(tour / "tour.mp4")
    assert frames.shape == (meta["num_frames"], 120, 160, 3)
    shots = read_shots(tour / "truth")
    assert [s.indoor for s in shots] == [True, True, False]
    assert shots[0].start_frame == 0 and shots[-1].end_frame == meta["num_frames"]
    assert all(a.end_frame == b.start_frame for a, b in zip(shots, shots[1:], strict=False))
    assert {s.room for s in shots} == set(range(len(read_rooms(tour / "truth"))))
    assert truth_frame_path(tour / "truth", meta["num_frames"] - 1).exists()
    with open(tour / "tour.mp4", "rb") as f:  # the truth is bound to the finished video's bytes
        assert meta["video_sha256"] == hashlib.file_digest(f, "sha256").hexdigest()


def test_cuts_in_the_video_are_exactly_the_shot_boundaries(tour: Path):
    frames = decode(tour / "tour.mp4").astype(np.int16)
    step = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))  # step[k]: frame k → k+1
    cuts = {s.start_frame - 1 for s in read_shots(tour / "truth")[1:]}
    inside = np.array([k not in cuts for k in range(len(step))])
    # a cut replaces the whole picture, while inside a shot the camera moves under 10 cm a
    # frame (test_path): 3× leaves any cut detector a threshold between the two
    assert step[list(cuts)].min() > 3 * step[inside].max()


def test_truth_warps_each_decoded_frame_onto_the_next_in_every_shot(tour: Path):
    truth, frames = tour / "truth", decode(tour / "tour.mp4")
    # Frames 6 apart (half a shot): the far outdoor scene moves enough that leaving the frame
    # unwarped costs ≥ 9 levels (7 at 4 apart, too close to 2 × the codec's 3 to tell them apart).
    gap = 6
    for shot in read_shots(truth):
        i = shot.start_frame + 2
        a, b = read_truth_frame(truth, i), read_truth_frame(truth, i + gap)
        if not shot.indoor:  # sky has no depth; the warp runs on the ground and facade
            assert (a["depth"] == 0).any() and (a["labels"] == 0).all()
        warped, unwarped = warp_error(
            (a["depth"], a["cam2world"], frames[i]),
            (b["depth"], b["cam2world"], frames[i + gap]),
            a["K"],
        )
        assert warped <= 6  # 2× the 2–3 levels H.264 at crf 18 leaves (observed 2 in, 3 out)
        assert unwarped > 2 * max(warped, 1)  # the truth explains most of the change


def test_same_seed_same_tour_other_seed_other_tour(tour: Path, tmp_path: Path):
    again = synth_cli(tmp_path / "again")
    assert np.array_equal(decode(tour / "tour.mp4"), decode(again / "tour.mp4"))
    n = read_meta(tour / "truth")["num_frames"]
    for i in (0, n // 2, n - 1):
        a, b = read_truth_frame(tour / "truth", i), read_truth_frame(again / "truth", i)
        assert all(np.array_equal(a[k], b[k]) for k in a)
    assert read_rooms(tour / "truth") == read_rooms(again / "truth")
    other = synth_cli(tmp_path / "other", "--seed", "4")
    assert read_rooms(other / "truth") != read_rooms(tour / "truth")


def test_the_shots_stage_detects_exactly_the_truth_cuts(tmp_path: Path):
    from storage.config import ShotsConfig
    from tasks.shots import detect_shots

    tour = synth_cli(tmp_path / "t24", "--fps", "24", "--seconds-per-room", "1.5")
    spans, _, _ = detect_shots(tour / "tour.mp4", ShotsConfig())
    found = [start for start, _ in spans[1:]]
    truth = [s.start_frame for s in read_shots(tour / "truth")[1:]]
    assert len(found) == len(truth)
    assert all(abs(a - b) <= 1 for a, b in zip(found, truth, strict=True))


def test_odd_frame_size_is_one_clear_error_and_writes_nothing(tmp_path: Path):
    from typer.testing import CliRunner

    from flows.cli import _register, app

    _register()
    made = CliRunner().invoke(app, ["synth", str(tmp_path / "odd"), "--width", "161"])
    assert made.exit_code != 0 and "even" in made.output
    assert not (tmp_path / "odd").exists()


def test_a_shorter_tour_over_a_longer_one_leaves_no_stale_frames(tmp_path: Path):
    out = synth_cli(tmp_path / "t", "--seconds-per-room", "1.5")
    synth_cli(out)
    n = read_meta(out / "truth")["num_frames"]
    assert len(list((out / "truth" / "frames").glob("*.npz"))) == n
