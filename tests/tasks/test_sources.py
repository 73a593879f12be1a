"""SOURCE expansion: every kind of source becomes videos with safe, stable ids."""

import socket

import pytest

from flows.loopback import serve_directory
from storage.config import DownloadConfig
from tasks.sources import (
    SourceError,
    expand_source,
    expand_sources,
    is_listing,
    list_entries,
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
    (v,), errors = expand_source(str(tmp_path), DownloadConfig())
    assert errors == [] and v.video_id == "abcdefghijk"
    assert sorted(v.clips_s) == [(1.0, 3.5), (5.0, 6.0)]


def test_local_files_get_sanitised_ids(tmp_path) -> None:
    f = tmp_path / "my tour (1).mp4"
    f.write_bytes(b"")
    (v,), _ = expand_source(str(f), DownloadConfig())
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


GOOD_A, GOOD_B = "http://127.0.0.1:9/a.mp4", "http://127.0.0.1:9/b.mp4"


def test_a_bad_line_fails_alone_naming_file_and_line(tmp_path) -> None:
    f = tmp_path / "urls.txt"
    f.write_text(f"{GOOD_A}\nftp://host/x.mp4\n{GOOD_B}\n")
    videos, errors = expand_sources([str(f)], DownloadConfig())
    assert [v.url for v in videos] == [GOOD_A, GOOD_B]
    ((item, reason),) = errors
    assert item == f"{f}:2" and reason.startswith(f"{f}:2: ") and "scheme 'ftp'" in reason


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["utf8", "utf8-bom"])
def test_lists_and_camera_files_read_with_or_without_a_bom(tmp_path, bom) -> None:
    (tmp_path / "urls.txt").write_bytes(bom + f"{GOOD_A}\n".encode())
    cams = tmp_path / "cams"
    cams.mkdir()
    url = "https://www.youtube.com/watch?v=abcdefghijk"
    (cams / "c.txt").write_bytes(bom + f"{url}\n1000000 0.5\n2000000 0.5\n".encode())
    videos, errors = expand_sources([str(tmp_path / "urls.txt"), str(cams)], DownloadConfig())
    assert errors == [] and [v.url for v in videos] == [GOOD_A, url]
    assert videos[1].clips_s == ((1.0, 2.0),)


def test_an_undecodable_list_is_one_failed_source_and_the_others_go_on(tmp_path) -> None:
    latin = tmp_path / "latin.txt"
    latin.write_bytes(f"# visite guidée\n{GOOD_B}\n".encode("latin-1"))
    videos, errors = expand_sources([str(latin), GOOD_A], DownloadConfig())
    assert [v.url for v in videos] == [GOOD_A]
    ((item, reason),) = errors
    assert item == str(latin) and "not UTF-8" in reason and str(latin) in reason


def test_list_entries_are_urls_only_so_local_paths_and_cycles_are_refused(tmp_path) -> None:
    video = tmp_path / "tour.mp4"
    video.write_bytes(b"\x00" * 16)
    f = tmp_path / "urls.txt"
    entries = [str(f), "/etc/passwd", str(tmp_path), str(video), "file:///etc/passwd", GOOD_A]
    f.write_text("\n".join(entries) + "\n")
    videos, errors = expand_sources([str(f)], DownloadConfig())
    assert [v.url for v in videos] == [GOOD_A] and not any(v.local for v in videos)
    assert [item for item, _ in errors] == [f"{f}:{k}" for k in range(1, 6)]
    assert all("must be an http(s) URL" in r for _, r in errors[:4])
    assert "scheme 'file' not allowed" in errors[4][1]


def test_a_missing_local_path_says_no_such_file(tmp_path) -> None:
    missing = str(tmp_path / "nope.mp4")
    videos, errors = expand_sources([missing, GOOD_A], DownloadConfig())
    assert [v.url for v in videos] == [GOOD_A]
    assert errors == [(missing, f"{missing}: no such file or folder")]


def test_a_bad_camera_row_fails_its_file_and_the_other_files_go_on(tmp_path) -> None:
    (tmp_path / "bad.txt").write_text(
        "https://www.youtube.com/watch?v=aaaaaaaaaaa\n1000000 0.5\n12x4 0.5\n"
    )
    (tmp_path / "good.txt").write_text(
        "https://www.youtube.com/watch?v=bbbbbbbbbbb\n1000000 0.5\n3000000 0.5\n"
    )
    (tmp_path / "ftp.txt").write_text("ftp://host/v.mp4\n1000000 0.5\n")
    videos, errors = expand_sources([str(tmp_path)], DownloadConfig())
    assert [v.video_id for v in videos] == ["bbbbbbbbbbb"]
    reasons = dict(errors)
    assert reasons[str(tmp_path / "bad.txt")].startswith(f"{tmp_path / 'bad.txt'}:3: ")
    assert "'12x4' is not a whole number" in reasons[str(tmp_path / "bad.txt")]
    assert "scheme 'ftp' not allowed" in reasons[str(tmp_path / "ftp.txt")]


@pytest.mark.parametrize("bad", ["file:///etc/passwd", "ftp://host/x.mp4", "javascript:alert(1)"])
def test_urls_read_from_realestate10k_camera_files_pass_the_scheme_check(tmp_path, bad) -> None:
    """README: "Only http/https URLs are accepted" holds for URLs inside camera files too."""
    (tmp_path / "bad.txt").write_text(f"{bad}\n1000000 0.5\n2000000 0.5\n")
    videos, errors = expand_sources([str(tmp_path)], DownloadConfig())
    assert bad not in [v.url for v in videos]
    assert len(errors) == 1 and bad in errors[0][1] and "not allowed" in errors[0][1]


def test_allowed_schemes_setting_widens_and_narrows_the_check(tmp_path) -> None:
    (tmp_path / "c.txt").write_text("http://127.0.0.1:9/a.mp4\n1000000 0.5\n2000000 0.5\n")
    (v,), errors = expand_source(str(tmp_path), DownloadConfig())
    assert v.url == "http://127.0.0.1:9/a.mp4" and not errors
    videos, errors = expand_source(str(tmp_path), DownloadConfig(allowed_schemes=["https"]))
    assert not videos and "not allowed" in errors[0][1]


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
        assert len(list_entries(f"{base}/feed.xml")) == 2
        videos, errors = expand_source(f"{base}/feed.xml", DownloadConfig())
    assert [v.url for v in videos] == entries and errors == []  # each fetched by its own URL
    assert [v.item for v in videos] == [None, None]
    assert [v.video_id.split("-")[:2] for v in videos] == [["tour", "a"], ["tour", "b"]]


def test_an_unreadable_camera_file_fails_alone(tmp_path) -> None:
    (tmp_path / "odd.txt").mkdir()  # a folder named like a camera file
    (tmp_path / "good.txt").write_text(
        "https://www.youtube.com/watch?v=bbbbbbbbbbb\n1000000 0.5\n3000000 0.5\n"
    )
    videos, errors = expand_sources([str(tmp_path)], DownloadConfig())
    assert [v.video_id for v in videos] == ["bbbbbbbbbbb"]
    ((item, reason),) = errors
    assert item == str(tmp_path / "odd.txt") and "cannot be read" in reason


def test_every_youtube_url_form_and_host_gives_the_id_and_others_none() -> None:
    vid = "dQw4w9WgXcQ"
    for url in (f"https://m.youtube.com/watch?v={vid}", f"https://youtube.com/embed/{vid}",
                f"https://www.youtube.com/live/{vid}?si=x", f"https://music.youtube.com/watch?v={vid}",
                f"https://youtu.be/{vid}/"):  # fmt: skip
        assert youtube_id(url) == vid, url
    for url in ("https://www.youtube.com/watch?v=short", "https://www.youtube.com/watch",
                f"https://www.youtube.com/channel/{vid}", f"https://vimeo.com/watch?v={vid}"):  # fmt: skip
        assert youtube_id(url) is None, url
    (v,), _ = expand_source(f"https://youtu.be/{vid}", DownloadConfig())
    assert (v.video_id, v.url, v.local, v.clips_s) == (vid, f"https://youtu.be/{vid}", False, ())


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
    (v,), errors = expand_source(str(cams), DownloadConfig())
    assert v.url == "https://b.example/v.mp4" and v.clips_s == ((2.0, 4.0),)


def test_a_name_that_is_neither_a_file_nor_a_url_is_refused_as_no_such_file() -> None:
    videos, errors = expand_sources(["no-such-file.mp4"], DownloadConfig())
    assert videos == [] and errors == [
        ("no-such-file.mp4", "no-such-file.mp4: no such file or folder")
    ]


@pytest.mark.parametrize(
    ("url", "listing"),
    [
        ("https://www.youtube.com/watch?list=PL0123456789", True),  # a list and no video
        ("https://www.youtube.com/playlist", True),  # the playlist page itself
        ("https://www.youtube.com/results?search_query=tour", False),
    ],
)
def test_a_list_parameter_without_a_video_is_a_listing(url: str, listing: bool) -> None:
    assert is_listing(url) is listing


def test_short_links_take_the_first_path_part_whatever_its_letters() -> None:
    assert youtube_id("https://youtu.be/dQw4w9WgXcQ/extra") == "dQw4w9WgXcQ"
    assert youtube_id("https://youtu.be/abcdefghijX") == "abcdefghijX"


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("ftp://host/x.mp4", "scheme 'ftp' not allowed"),
        ("https:///x.mp4", "'https:///x.mp4': no host"),
    ],
)
def test_refused_urls_say_why(spec: str, why: str) -> None:
    videos, errors = expand_sources([spec], DownloadConfig())
    assert videos == [] and why in errors[0][1]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", ":1: no video URL on the first line"),
        ("https://a.example/v.mp4\n\n", ": no camera rows after the URL"),
    ],
)
def test_camera_files_without_url_or_rows_say_so(tmp_path, text: str, why: str) -> None:
    cams = tmp_path / "cams"
    cams.mkdir()
    (cams / "c.txt").write_text(text)
    _, errors = expand_sources([str(cams)], DownloadConfig())
    assert any(f"c.txt{why}" in e for _, e in errors), errors


def test_a_comment_ends_a_url_line_at_its_first_hash(tmp_path) -> None:
    f = tmp_path / "urls.txt"
    f.write_text("http://127.0.0.1:9/a.mp4 # tour # second note\n")
    videos, errors = expand_sources([str(f)], DownloadConfig())
    assert [v.url for v in videos] == ["http://127.0.0.1:9/a.mp4"] and errors == []


def test_refusals_name_the_file_line_and_what_to_do(tmp_path) -> None:
    """The one line a user gets for a list entry that is a path, a camera file whose URL is
    refused or that cannot be read, and a URL without a scheme."""
    cfg = DownloadConfig()
    f = tmp_path / "urls.txt"
    f.write_text("/etc/passwd\n")
    _, errors = expand_sources([str(f)], cfg)
    assert errors == [(f"{f}:1", f"{f}:1: '/etc/passwd': a list entry must be an http(s) URL "
                                 "(local paths only as command-line arguments)")]  # fmt: skip
    cams = tmp_path / "cams"
    cams.mkdir()
    (cams / "a.txt").write_text("ftp://host/v.mp4\n1000000 0.5\n")
    (cams / "b.txt").mkdir()  # a folder where a camera file should be
    (cams / "c.txt").write_text("//host/v.mp4\n1000000 0.5\n")  # a URL without a scheme
    _, errors = expand_sources([str(cams)], cfg)
    reasons = dict(errors)
    assert reasons[str(cams / "a.txt")].startswith(f"{cams / 'a.txt'}: 'ftp://host/v.mp4': ")
    assert reasons[str(cams / "b.txt")] == f"{cams / 'b.txt'}: cannot be read (Is a directory)"
    assert "'//host/v.mp4': scheme '(none)' not allowed" in reasons[str(cams / "c.txt")]


@pytest.mark.parametrize(
    ("spec", "why"),
    [("x://host/v.mp4", "scheme 'x' not allowed"),  # "://": a URL, whatever its scheme
     ("ab:watch", "scheme 'ab' not allowed"),  # a scheme of two letters or more: a URL
     ("c:missing.mp4", "c:missing.mp4: no such file or folder")],  # one letter: a drive, a path
)  # fmt: skip
def test_what_counts_as_a_url_and_what_as_a_path(spec: str, why: str) -> None:
    with pytest.raises(SourceError, match=why):
        expand_source(spec, DownloadConfig())


def test_listing_a_page_or_an_unreadable_url_prints_nothing_on_the_console(tmp_path, capfd):
    """yt-dlp's messages, its errors included, go to the log at debug level: an unreachable URL
    stays one video (the download stage retries it and its marker says why) and the console
    shows nothing of yt-dlp's own."""
    (tmp_path / "page.html").write_text(
        '<html><body><video><source src="a.webm" type="video/webm"><source src="a.mp4" '
        'type="video/mp4"></video><video src="b.mp4"></video></body></html>'
    )
    refused = "http://127.0.0.1:9/gone.html"  # port 9 (discard): the connection is refused
    with serve_directory(tmp_path) as base:
        videos, errors = expand_sources([f"{base}/page.html", refused], DownloadConfig())
    # the first <video> offers two formats: item 1 of the page; the videos after it go on
    page, b = f"{base}/page.html", f"{base}/b.mp4"
    assert [(v.url, v.item) for v in videos] == [(page, 1), (b, None), (refused, None)]
    assert errors == []
    assert capfd.readouterr() == ("", "")


def test_youtube_video_urls_are_taken_as_they_are_without_asking_youtube(monkeypatch) -> None:
    """A video link's id is read from the URL itself, so a long list expands offline and at
    once; only a playlist or channel is listed (here offline: kept as one source, which the
    download stage retries and records)."""
    asked: list[str] = []

    def offline(host, *args, **kwargs):
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "offline")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    vid = "dQw4w9WgXcQ"
    links = [f"https://www.youtube.com/watch?v={vid}", f"https://youtu.be/{vid}",
             f"https://www.youtube.com/shorts/{vid}", f"https://www.youtube.com/watch?v={vid}&list=PL0"]  # fmt: skip
    videos, errors = expand_sources(links, DownloadConfig())
    assert [v.video_id for v in videos] == [vid] and errors == [] and asked == []
    for playlist in ("https://www.youtube.com/playlist?list=PL0123456789",
                     f"https://www.youtube.com/playlist?list=PL0123456789&v={vid}"):  # fmt: skip
        asked.clear()
        (v,), errors = expand_source(playlist, DownloadConfig())
        assert v.url == playlist and errors == [] and "www.youtube.com" in asked, playlist
