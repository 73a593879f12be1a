"""The download stage: a local video file is a source like a URL; transient network errors are retried with back-off, permanent ones are
not; a page holding several videos becomes one video per entry, never its largest file."""

import http.client

import pytest
import yt_dlp

from storage.config import Config, DownloadConfig, load_config
from storage.layout import DataRoot
from storage.markers import StageFailure, read_marker
from tasks import download
from tasks.download import is_transient
from tasks.sources import VideoSource, expand_source, expand_sources, read_source
from tasks.validate import probe_video
from tests.support.flaky_site import flaky_site
from tests.support.videos import clip_in, truncate, write_video

QUICK = ["download.retry_delays_s=[0.01,0.02]", "download.socket_timeout_s=1"]


@pytest.fixture
def web(tmp_path):
    folder = tmp_path / "web"
    folder.mkdir()
    clip_in(folder, "mp4-h264").rename(folder / "v.mp4")
    return folder


@pytest.mark.parametrize(
    "faults",
    # yt-dlp's generic extractor reads the head of the file first ("ok"), then downloads it
    # (yt-dlp retries a dropped transfer once itself: two drops end its attempt)
    [
        ["ok", "drop", "drop"],
        ["ok", "drop", "drop", "drop", "drop"],
        ["reset"],
        [503],
        [502, 500],
        [429],
        ["slow"],
        ["ok", "slow", "slow"],
    ],
    ids=[
        "dropped-mid-transfer",
        "dropped-in-two-attempts",
        "reset",
        "503",
        "502-then-500",
        "429",
        "timeout",
        "timeout-mid-download",
    ],  # fmt: skip
)
def test_transient_errors_are_retried_until_the_file_comes(root, web, faults) -> None:
    cfg = load_config(overrides=QUICK)
    with flaky_site(web, {"v.mp4": list(faults)}, slow_s=2.5) as (url, gets):
        m = download.run(root, cfg, VideoSource("v", f"{url}/v.mp4"))
    assert m.status == "ok", m.reason
    assert m.stats["attempts"] >= 2 and gets["v.mp4"] > len(faults)
    assert read_marker(root.video_marker("v", "download")).stats["attempts"] >= 2
    assert probe_video(root.video_file("v"))["num_frames"] == 72


@pytest.mark.parametrize("status", [404, 403, 410])
def test_permanent_errors_get_one_attempt(root, web, status) -> None:
    cfg = load_config(overrides=QUICK)
    with flaky_site(web, {"v.mp4": [status] * 5}) as (url, gets):
        m = download.run(root, cfg, VideoSource("v", f"{url}/v.mp4"))
    assert m.status == "failed" and f"HTTP Error {status}" in m.reason
    assert m.stats["attempts"] == 1 and gets["v.mp4"] == 1


def test_a_server_that_stays_down_fails_after_the_configured_retries(root, web) -> None:
    cfg = load_config(overrides=[*QUICK, "download.retries=2"])
    with flaky_site(web, {"v.mp4": [503] * 20}) as (url, _):
        m = download.run(root, cfg, VideoSource("v", f"{url}/v.mp4"))
    assert m.status == "failed" and "503" in m.reason and m.stats["attempts"] == 3


def test_transient_causes_are_recognised_through_yt_dlps_wrapping() -> None:
    from yt_dlp.networking.exceptions import IncompleteRead
    from yt_dlp.utils import ContentTooShortError

    def wrapped(cause: BaseException) -> yt_dlp.utils.DownloadError:
        try:
            raise cause
        except BaseException:
            import sys

            return yt_dlp.utils.DownloadError("ERROR: something went wrong", sys.exc_info())

    for cause in (IncompleteRead(10, 20), ContentTooShortError(10, 20), ConnectionResetError(),
                  TimeoutError(), http.client.RemoteDisconnected()):  # fmt: skip
        assert is_transient(wrapped(cause)), cause
    for cause in (ValueError("unsupported URL"), PermissionError(), ConnectionRefusedError()):
        assert not is_transient(wrapped(cause)), cause


def test_each_video_of_a_page_is_its_own_video_with_its_own_marker(root, web) -> None:
    clip_in(web, "webm-vp9", seconds=2.0).rename(web / "second.webm")
    clip_in(web, "mp4-h264", seconds=2.0).rename(web / "second.mp4")
    (web / "page.html").write_text(
        "<!doctype html><html><body><h1>Our tour</h1>"
        '<video src="v.mp4" controls></video>'
        '<video controls><source src="second.webm" type="video/webm">'
        '<source src="second.mp4" type="video/mp4"></video></body></html>'
    )
    cfg = load_config(overrides=QUICK)
    with flaky_site(web, {}) as (url, _):
        videos, errors = expand_sources([f"{url}/page.html"], DownloadConfig())
        # one format: fetched by its own URL; two formats: fetched as item 2 of the page
        assert errors == [] and [v.item for v in videos] == [None, 2]
        assert videos[0].url == f"{url}/v.mp4" and videos[1].url == f"{url}/page.html"
        assert len({v.video_id for v in videos}) == 2
        for v in videos:
            assert download.run(root, cfg, v).status == "ok"
            assert read_source(root, v.video_id) == v  # a re-run fetches the same entry
        whole = download.run(root, cfg, VideoSource("page", f"{url}/page.html"))
    lengths = sorted(read_marker(root.video_marker(v.video_id, "download")).stats["duration_s"]
                     for v in videos)  # fmt: skip
    assert lengths == [2.0, 3.0]
    assert whole.status == "failed" and "holds 2 videos" in whole.reason
    assert not root.video_file("page").exists()


def test_a_local_video_file_is_copied_in_validated_and_recorded(root: DataRoot, tmp_path) -> None:
    src = tmp_path / "walkthrough.mp4"
    write_video(src, [48])
    (source,), _ = expand_source(str(src), Config().download)
    m = download.run(root, Config(), source)
    assert m.status == "ok", m.reason
    assert root.video_file(source.video_id).read_bytes() == src.read_bytes()
    assert (m.stats["width"], m.stats["height"], m.stats["fps"]) == (160, 120, 24)
    assert m.stats["duration_s"] == 2.0  # 48 frames at 24 fps, decoded to the end
    assert read_source(root, source.video_id) == source  # a re-run needs only the data
    assert src.exists()  # the user's file is copied, never moved
    again = download.run(root, Config(), source)  # done: the marker is not rewritten
    assert again.finished_at == m.finished_at
    assert read_marker(root.video_marker(source.video_id, "download")) == again


def test_a_broken_local_file_ends_that_video_with_its_reason(root: DataRoot, tmp_path) -> None:
    src = tmp_path / "whole.mp4"
    write_video(src, [48])
    broken = truncate(src, tmp_path / "broken.mp4", keep=0.3)
    (source,), _ = expand_source(str(broken), Config().download)
    m = download.run(root, Config(), source)
    assert m.status == "failed" and m.reason
    assert not root.video_file(source.video_id).exists()


@pytest.mark.parametrize(
    "damage",
    [None, "", "{not json", '{"video_id": "v"}',
     '{"video_id": "v", "url": "http://h/v.mp4", "local": false, "clips_s": 5}'],
    ids=["missing", "empty", "not-json", "fields-missing", "spans-not-a-list"],
)  # fmt: skip
def test_a_damaged_source_record_names_its_file(root, damage) -> None:
    path = root.source_json("v")
    path.parent.mkdir(parents=True)
    if damage is not None:
        path.write_text(damage)
    with pytest.raises(StageFailure, match=r"^videos/v/source\.json: unreadable source record"):
        read_source(root, "v")


def test_a_page_entry_of_a_refused_scheme_fails_alone(web) -> None:
    (web / "page.html").write_text(
        '<html><body><video src="v.mp4"></video><video src="ftp://host/x.mp4"></video></body></html>'
    )
    with flaky_site(web, {}) as (url, _):
        videos, errors = expand_sources([f"{url}/page.html"], DownloadConfig())
    assert [v.url for v in videos] == [f"{url}/v.mp4"]
    ((item, reason),) = errors
    assert item == f"{url}/page.html#2" and "entry 2" in reason and "scheme 'ftp'" in reason
