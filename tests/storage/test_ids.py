"""Ids become folder names: they must never escape the data root."""

import pytest

from storage.ids import (
    InvalidIdError,
    clip_id,
    id_from_url,
    sanitize_id,
    url_identity,
    video_id_of_clip,
)


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


@pytest.mark.parametrize(
    "other",
    ["http://127.0.0.1:41234/tours/a.mp4", "http://localhost:8000/tours/a.mp4",
     "https://[::1]:9/tours/a.mp4", "http://127.0.0.2:80/tours/a.mp4"],
)  # fmt: skip
def test_a_loopback_url_names_the_same_video_on_any_port(other: str) -> None:
    # issue 13, cases 2-3: the demo's ephemeral port changed the id, so every run re-harvested
    assert id_from_url(other) == id_from_url("http://127.0.0.1:8000/tours/a.mp4")
    assert id_from_url(other) != id_from_url("http://127.0.0.1:8000/tours/b.mp4")
    assert id_from_url(other) != id_from_url("http://127.0.0.1:8000/tours/a.mp4?take=2")
    # a fragment names one video of a page that holds several: two fragments, two videos
    assert id_from_url(other + "#v2") != id_from_url("http://127.0.0.1:8000/tours/a.mp4")
    assert id_from_url(other + "#v2") == id_from_url("http://127.0.0.1:8000/tours/a.mp4#v2")


def test_on_other_hosts_the_host_and_port_stay_part_of_the_id() -> None:
    a = "http://example.com:8000/a.mp4"
    assert id_from_url(a) != id_from_url("http://example.com:8001/a.mp4")
    assert id_from_url(a) != id_from_url("http://example.org:8000/a.mp4")
    assert id_from_url(a) != id_from_url("http://127.0.0.1:8000/a.mp4")
    assert url_identity(a) == a  # ids of existing data roots are unchanged


def test_clip_id_round_trips_to_its_video() -> None:
    cid = clip_id("my-video_1", 7)
    assert cid == "my-video_1-007"
    assert video_id_of_clip(cid) == "my-video_1"


@pytest.mark.parametrize(
    ("url", "stem"),
    [
        ("https://host.example/tours/house.tour.v2.mp4", "house_tour_v2"),  # last suffix only
        ("https://host.example/tours/walk/", "walk"),  # trailing slash
        ("https://host.example", "host"),  # no path: the host names it
        ("https://host.example/%%%.mp4", "source"),  # nothing safe left
        ("https://host.example/" + "x" * 90 + ".mp4", "x" * 40),  # stems are cut at 40
        ("https://host.example/tours/REX", "REX"),
        ("https:///x.mp4", "x"),  # no host: the URL itself is hashed
        ("https:///", "source"),  # neither path nor host
    ],
)
def test_url_ids_are_the_sanitised_stem_and_a_hash_of_the_url(url: str, stem: str) -> None:
    from storage.ids import short_hash

    assert id_from_url(url) == f"{stem}-{short_hash(url)}"
    assert len(short_hash(url)) == 8 and short_hash(url) != short_hash(url + "x")


def test_sanitising_joins_unsafe_runs_with_one_underscore_and_trims_the_ends() -> None:
    assert sanitize_id("--tour: 4 rooms!!") == "tour_4_rooms"
    assert sanitize_id("a" * 100) == "a" * 64
    assert sanitize_id("abcdef", max_len=3) == "abc"
    assert sanitize_id("Xbox_X") == "Xbox_X"
    with pytest.raises(InvalidIdError, match="'!!' has no safe characters"):
        sanitize_id("!!")


def test_ids_of_loopback_urls_are_pinned_so_existing_data_roots_keep_them() -> None:
    """A changed identity format would rename every video of every existing data root."""
    from storage.ids import short_hash

    assert id_from_url("http://127.0.0.1:8000/tours/a.mp4") == "a-" + short_hash(
        "loopback:/tours/a.mp4"
    )
    assert url_identity("http://localhost:1/a.mp4?take=2") == "loopback:/a.mp4?take=2"
