"""SOURCE expansion: every kind of source becomes videos with safe, stable ids."""

import pytest

from flows.loopback import serve_directory
from storage.config import DownloadConfig
from tasks.sources import (
    SourceError,
    expand_source,
    expand_sources,
    is_listing,
    list_flat,
    youtube_id,
)


def test_url_lists_skip_comments_and_duplicates(tmp_path) -> None:
    f = tmp_path / "urls.txt"
    f.write_text(
        "# tours\nhttp://127.0.0.1:9/a.mp4\n\nhttp://127.0.0.1:9/b.mp4  # second\nhttp://127.0.0.1:9/a.mp4\n"
    )
    videos, errors = expand_sources([str(f)], DownloadConfig())
    assert [v.url for v in videos] == ["http://127.0.0.1:9/a.mp4", "http://127.0.0.1:9/b.mp4"]
    assert errors == [] and all(v.video_id.startswith(("a-", "b-")) for v in videos)


def test_realestate10k_files_give_clip_spans_per_video(tmp_path) -> None:
    url = "https://www.youtube.com/watch?v=abcdefghijk"
    (tmp_path / "c1.txt").write_text(
        f"{url}\n1000000 0.5 0.9 0.5 0.5 0 0\n3500000 0.5 0.9 0.5 0.5 0 0\n"
    )
    (tmp_path / "c2.txt").write_text(f"{url}\n5000000 0.5\n6000000 0.5\n")
    (v,) = expand_source(str(tmp_path), DownloadConfig())
    assert v.video_id == "abcdefghijk"
    assert sorted(v.clips_s) == [(1.0, 3.5), (5.0, 6.0)]


def test_local_files_get_sanitised_ids(tmp_path) -> None:
    f = tmp_path / "my tour (1).mp4"
    f.write_bytes(b"")
    (v,) = expand_source(str(f), DownloadConfig())
    assert v.local and v.url == str(f.resolve())
    assert v.video_id.startswith("my_tour_1-")


@pytest.mark.parametrize("bad", ["file:///etc/passwd", "ftp://host/x.mp4", "javascript:alert(1)"])
def test_disallowed_schemes_are_refused(bad: str) -> None:
    with pytest.raises(SourceError, match="not allowed"):
        expand_source(bad, DownloadConfig())
    videos, errors = expand_sources([bad], DownloadConfig())
    assert videos == [] and errors[0][0] == bad


def test_youtube_ids_are_read_from_every_url_form() -> None:
    for url in ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=3", "https://youtu.be/dQw4w9WgXcQ",
                "https://www.youtube.com/shorts/dQw4w9WgXcQ"):  # fmt: skip
        assert youtube_id(url) == "dQw4w9WgXcQ"
    assert youtube_id("http://127.0.0.1/watch?v=dQw4w9WgXcQ") is None


@pytest.mark.parametrize("bad", ["file:///etc/passwd", "ftp://host/x.mp4", "javascript:alert(1)"])
def test_urls_read_from_realestate10k_camera_files_pass_the_scheme_check(tmp_path, bad) -> None:
    """README: "Only http/https URLs are accepted" holds for URLs inside camera files too."""
    (tmp_path / "bad.txt").write_text(f"{bad}\n1000000 0.5\n2000000 0.5\n")
    videos, errors = expand_sources([str(tmp_path)], DownloadConfig())
    assert bad not in [v.url for v in videos]
    assert len(errors) == 1 and bad in errors[0][1] and "not allowed" in errors[0][1]


def test_allowed_schemes_setting_widens_and_narrows_the_check(tmp_path) -> None:
    (tmp_path / "c.txt").write_text("http://127.0.0.1:9/a.mp4\n1000000 0.5\n2000000 0.5\n")
    (v,) = expand_source(str(tmp_path), DownloadConfig())
    assert v.url == "http://127.0.0.1:9/a.mp4"
    with pytest.raises(SourceError, match="not allowed"):
        expand_source(str(tmp_path), DownloadConfig(allowed_schemes=["https"]))


@pytest.mark.parametrize(
    ("url", "listing"),
    [
        ("https://www.youtube.com/playlist?list=PL0123456789", True),
        ("https://www.youtube.com/@SomeAgent", True),
        ("https://www.youtube.com/channel/UC0123456789", True),
        ("https://www.youtube.com/c/SomeAgent", True),
        ("https://www.youtube.com/user/someagent", True),
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=PL0123456789", False),  # one video
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", False),
        ("https://example.com/playlist?list=PL0123456789", False),
    ],
)
def test_playlist_and_channel_urls_are_listings(url: str, listing: bool) -> None:
    assert is_listing(url) is listing


def test_a_listing_is_expanded_flat_by_yt_dlp_into_its_videos(tmp_path) -> None:
    """README: "a playlist or channel URL (listed flat by yt-dlp)": yt-dlp lists a feed served
    from 127.0.0.1 without downloading any entry (the entries' URLs lead nowhere)."""
    entries = ["http://127.0.0.1:9/tour-a.mp4", "http://127.0.0.1:9/tour-b.mp4"]
    items = "".join(
        f"<item><title>t{i}</title><link>{u}</link>"
        f'<enclosure url="{u}" type="video/mp4" length="1"/></item>'
        for i, u in enumerate(entries)
    )
    (tmp_path / "feed.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>tours</title>'
        f"<link>http://127.0.0.1/</link>{items}</channel></rss>"
    )
    with serve_directory(tmp_path) as base:
        assert list_flat(f"{base}/feed.xml") == entries


def test_every_youtube_url_form_and_host_gives_the_id_and_others_none() -> None:
    vid = "dQw4w9WgXcQ"
    for url in (f"https://m.youtube.com/watch?v={vid}", f"https://youtube.com/embed/{vid}",
                f"https://www.youtube.com/live/{vid}?si=x", f"https://music.youtube.com/watch?v={vid}",
                f"https://youtu.be/{vid}/"):  # fmt: skip
        assert youtube_id(url) == vid, url
    for url in ("https://www.youtube.com/watch?v=short", "https://www.youtube.com/watch",
                f"https://www.youtube.com/channel/{vid}", f"https://vimeo.com/watch?v={vid}"):  # fmt: skip
        assert youtube_id(url) is None, url
    (v,) = expand_source(f"https://youtu.be/{vid}", DownloadConfig())
    assert (v.video_id, v.url, v.local, v.clips_s) == (vid, f"https://youtu.be/{vid}", False, ())


@pytest.mark.xfail(
    strict=True,
    reason="sources.py: a stem of no safe character raises "
    "InvalidIdError, which expand_sources does not catch (a traceback)",
)
def test_a_local_file_named_without_safe_characters_gets_an_id(tmp_path) -> None:
    f = tmp_path / "###.mp4"
    f.write_bytes(b"")
    videos, errors = expand_sources([str(f)], DownloadConfig())
    assert errors == [] and videos[0].video_id.startswith("video-") and videos[0].local


def test_empty_folders_and_camera_files_without_timestamps(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="holds no RealEstate10K camera files"):
        expand_source(str(tmp_path / "empty"), DownloadConfig())
    cams = tmp_path / "cams"
    cams.mkdir()
    (cams / "no-rows.txt").write_text("https://a.example/v.mp4\n\n")  # a URL and no timestamps
    (cams / "ok.txt").write_text("https://b.example/v.mp4\n2000000 1\n\n4000000 1\n")
    (v,) = expand_source(str(cams), DownloadConfig())
    assert v.url == "https://b.example/v.mp4" and v.clips_s == ((2.0, 4.0),)


def test_a_name_that_is_neither_a_file_nor_a_url_is_refused_with_its_scheme() -> None:
    videos, errors = expand_sources(["no-such-file.mp4"], DownloadConfig())
    assert videos == [] and "scheme '(none)' not allowed" in errors[0][1]
