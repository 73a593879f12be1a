"""Ids become folder names: they must never escape the data root."""

import pytest

from storage.ids import InvalidIdError, clip_id, id_from_url, sanitize_id, video_id_of_clip


@pytest.mark.parametrize(
    "raw", ["../../etc/passwd", "a/b\\c", "tour: 4 rooms!", "x" * 200, "é-ü_1"]
)
def test_sanitized_ids_hold_only_safe_characters(raw: str) -> None:
    out = sanitize_id(raw)
    assert out and len(out) <= 64
    assert all(c.isascii() and (c.isalnum() or c in "_-") for c in out)
    assert "/" not in out and ".." not in out


def test_an_id_with_no_safe_character_is_refused() -> None:
    with pytest.raises(InvalidIdError):
        sanitize_id("../..")


def test_url_ids_are_stable_and_distinct() -> None:
    a, b = "http://127.0.0.1:8000/tours/a.mp4", "http://127.0.0.1:8000/other/a.mp4"
    assert id_from_url(a) == id_from_url(a)
    assert id_from_url(a) != id_from_url(b)
    assert id_from_url(a).startswith("a-")


def test_clip_id_round_trips_to_its_video() -> None:
    cid = clip_id("my-video_1", 7)
    assert cid == "my-video_1-007"
    assert video_id_of_clip(cid) == "my-video_1"
