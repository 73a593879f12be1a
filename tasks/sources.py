"""Expanding SOURCE arguments into videos: URLs, playlists/channels, pages holding several
videos, URL lists, RealEstate10K camera files, local files. Ids are decided here, before any
download, so that every source, even one that fails at once, gets a marker of its own.

Sources are parsed per entry: a bad line of a URL list or a bad camera file is one failed
item named ``file:line`` with its reason, and the rest go on. Text files are read as UTF-8
with or without a byte-order mark; a file that is not UTF-8 is one failed source. Entries of a
list must be http(s) URLs: local paths (files, folders, other lists) are accepted only as
command-line arguments, so a list can neither open local files nor include itself. Nothing
here raises for a malformed source: :func:`expand_sources` returns it as an error.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from storage.atomic import read_json
from storage.config import DownloadConfig
from storage.ids import id_from_url, name_stem, short_hash
from storage.layout import DataRoot
from storage.markers import StageFailure

VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v"}
_YT_HOSTS = {"youtube.com", "www.youtube.com", "m.youtube.com", "youtu.be", "music.youtube.com"}
_YT_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")


class SourceError(ValueError):
    """A SOURCE argument that names nothing we can harvest."""


@dataclass(frozen=True)
class VideoSource:
    """One video to harvest: where it comes from and the id its folder gets."""

    video_id: str
    url: str  # http(s) URL, or an absolute local path when `local`
    local: bool = False
    clips_s: tuple[tuple[float, float], ...] = field(default=())  # RealEstate10K clip spans
    item: int | None = None  # 1-based entry of a page holding several videos (yt-dlp playlist)


def youtube_id(url: str) -> str | None:
    """The 11-character id of a YouTube watch/shorts/youtu.be URL, else None."""
    p = urlparse(url)
    if p.hostname not in _YT_HOSTS:
        return None
    if p.hostname == "youtu.be":
        cand = p.path.strip("/").split("/")[0]
    elif p.path.startswith(("/shorts/", "/embed/", "/live/")):
        cand = p.path.split("/")[2]
    else:
        cand = parse_qs(p.query).get("v", [""])[0]
    return cand if _YT_ID.match(cand or "") else None


def video_id_for_url(url: str) -> str:
    """YouTube's own id when the URL has one, else a sanitised URL stem plus a short hash."""
    return youtube_id(url) or id_from_url(url)


def is_listing(url: str) -> bool:
    """True for playlist/channel URLs that yt-dlp lists flat."""
    p = urlparse(url)
    if p.hostname not in _YT_HOSTS:
        return False
    return (
        "list" in parse_qs(p.query)
        and youtube_id(url) is None
        or p.path.startswith(("/playlist", "/@", "/channel/", "/c/", "/user/"))
    )


def check_url(url: str, cfg: DownloadConfig) -> str:
    """`url` if it is an absolute URL of an allowed scheme, else a SourceError saying why."""
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme not in cfg.allowed_schemes:
        raise SourceError(
            f"{url!r}: scheme {scheme or '(none)'!r} not allowed ({cfg.allowed_schemes})"
        )
    if not parsed.hostname:
        raise SourceError(f"{url!r}: no host")
    return url


def read_text(path: Path) -> str:
    """A text file as UTF-8, with or without a byte-order mark; SourceError when it is not."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SourceError(
            f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})"
        ) from e
    except OSError as e:
        raise SourceError(f"{path}: cannot be read ({e.strerror or e})") from e


def read_url_list(path: Path) -> list[tuple[int, str]]:
    """(line number, entry) of a text file: one a line, blank lines and ``#`` comments skipped."""
    lines = (ln.split("#", 1)[0].strip() for ln in read_text(path).splitlines())
    return [(k, ln) for k, ln in enumerate(lines, 1) if ln]


def read_camera_file(path: Path) -> tuple[str, tuple[float, float]]:
    """(URL, (first, last) timestamp in s) of one RealEstate10K camera file.

    Line 1 is the video URL, every other non-blank line a row whose first field is the
    timestamp in microseconds. SourceError names ``file:line`` of the first bad row.
    """
    lines = read_text(path).splitlines()
    url = lines[0].strip() if lines else ""
    if not url:
        raise SourceError(f"{path}:1: no video URL on the first line")
    stamps = []
    for k, row in enumerate(lines[1:], 2):
        if not row.strip():
            continue
        field0 = row.split()[0]
        try:
            stamps.append(int(field0))
        except ValueError:
            raise SourceError(f"{path}:{k}: timestamp {field0!r} is not a whole number") from None
    if not stamps:
        raise SourceError(f"{path}: no camera rows after the URL")
    return url, (min(stamps) / 1e6, max(stamps) / 1e6)


class YtDlpLog:
    """yt-dlp's messages at debug level of `name`: a retried error is not the run's error, and
    the final one reaches the console once, through the item's marker and the run summary."""

    def __init__(self, name: str) -> None:
        self.log = logging.getLogger(name)

    def debug(self, msg: str) -> None:
        self.log.debug("%s", msg)

    info = warning = error = debug


def list_entries(url: str) -> list[dict[str, Any]] | None:
    """Entries of a playlist, channel or page holding several videos, as yt-dlp's extractor
    lists them, flat: none is resolved or downloaded (``process=False``; a YouTube playlist's
    entries are bare URLs, a page's its ``<video>`` elements); None when `url` is one video.

    Raises yt-dlp's errors (``YoutubeDLError``) when the URL cannot be read.
    """
    import yt_dlp

    opts = {"quiet": True, "no_warnings": True, "logger": YtDlpLog("ytocc.sources")}
    with yt_dlp.YoutubeDL(opts) as y:
        info = y.extract_info(url, download=False, process=False) or {}
    if info.get("_type") not in ("playlist", "multi_video"):
        return None
    return [e for e in info.get("entries") or [] if e]


def _entry_url(entry: dict[str, Any]) -> str | None:
    """Where one entry can be fetched on its own: its URL, or its only format's media URL."""
    formats = entry.get("formats") or []
    only = formats[0].get("url") if len(formats) == 1 else None
    return entry.get("url") or entry.get("webpage_url") or only


def expand_url(url: str, cfg: DownloadConfig) -> tuple[list[VideoSource], list[tuple[str, str]]]:
    """The videos one http(s) URL names (itself, or each entry of a listing or page), and
    (url#k, reason) for each entry that cannot be fetched. SourceError when `url` is refused."""
    check_url(url, cfg)
    if youtube_id(url) is not None and not is_listing(url):
        return [VideoSource(video_id_for_url(url), url)], []
    import yt_dlp

    try:
        entries = list_entries(url)
    except yt_dlp.utils.YoutubeDLError:
        entries = None  # unreadable now: the download stage retries it and records why
    if entries is None:
        return [VideoSource(video_id_for_url(url), url)], []
    videos, errors = [], []
    for k, entry in enumerate(entries, 1):
        e_url = _entry_url(entry)
        if e_url is None:  # a <video> offering several formats: fetched as item k of the page
            videos.append(VideoSource(f"{video_id_for_url(url)}-{k}", url, item=k))
            continue
        try:
            videos.append(VideoSource(video_id_for_url(check_url(e_url, cfg)), e_url))
        except SourceError as e:
            errors.append((f"{url}#{k}", f"{url}: entry {k}: {e}"))
    return videos, errors


def expand_list(path: Path, cfg: DownloadConfig) -> tuple[list[VideoSource], list[tuple[str, str]]]:
    """Videos of a URL list, and (file:line, reason) for each entry that names none."""
    videos, errors = [], []
    for k, entry in read_url_list(path):
        where = f"{path}:{k}"
        if "://" not in entry:
            errors.append((where, f"{where}: {entry!r}: a list entry must be an http(s) URL "
                                  "(local paths only as command-line arguments)"))  # fmt: skip
            continue
        try:
            found, bad = expand_url(entry, cfg)
        except SourceError as e:
            errors.append((where, f"{where}: {e}"))
            continue
        videos += found
        errors += [(item, f"{where}: {reason}") for item, reason in bad]
    return videos, errors


def expand_folder(
    folder: Path, cfg: DownloadConfig
) -> tuple[list[VideoSource], list[tuple[str, str]]]:
    """Videos of a folder of RealEstate10K camera files (spans per URL), and (file, reason)
    for each camera file that cannot be used."""
    files = sorted(folder.glob("*.txt"))
    if not files:
        raise SourceError(f"{folder}: folder holds no RealEstate10K camera files (*.txt)")
    spans: dict[str, list[tuple[float, float]]] = {}
    errors = []
    for txt in files:
        try:
            url, span = read_camera_file(txt)
            spans.setdefault(check_url(url, cfg), []).append(span)
        except SourceError as e:
            errors.append((str(txt), str(e) if str(txt) in str(e) else f"{txt}: {e}"))
    videos = [VideoSource(video_id_for_url(u), u, clips_s=tuple(s)) for u, s in spans.items()]
    return videos, errors


def expand_source(
    spec: str, cfg: DownloadConfig
) -> tuple[list[VideoSource], list[tuple[str, str]]]:
    """The videos one SOURCE argument names, and (item, reason) for each part that failed.

    Raises SourceError when the argument as a whole names nothing (see module docstring).
    """
    path = Path(spec).expanduser()
    if "://" in spec or (not path.exists() and len(urlparse(spec).scheme) > 1):
        return expand_url(spec, cfg)
    if not path.exists():
        raise SourceError(f"{spec}: no such file or folder")
    if path.is_dir():
        return expand_folder(path, cfg)
    if path.suffix.lower() == ".txt":
        return expand_list(path, cfg)
    stem = name_stem(path.stem, "video")
    resolved = str(path.resolve())
    return [VideoSource(f"{stem}-{short_hash(resolved)}", resolved, local=True)], []


def expand_sources(
    specs: list[str], cfg: DownloadConfig
) -> tuple[list[VideoSource], list[tuple[str, str]]]:
    """All videos of `specs`, deduplicated by id, plus (item, reason) for each unusable one.

    An item is a SOURCE argument, or ``file:line`` / a camera file inside one.
    """
    seen: dict[str, VideoSource] = {}
    errors: list[tuple[str, str]] = []
    for spec in specs:
        try:
            videos, bad = expand_source(spec, cfg)
        except (SourceError, OSError) as e:
            errors.append((spec, str(e)))
            continue
        errors += bad
        for v in videos:
            seen.setdefault(v.video_id, v)
    return list(seen.values()), errors


def read_source(root: DataRoot, video_id: str) -> VideoSource:
    """The source recorded for `video_id` (so re-runs need only the data folder)."""
    path = root.source_json(video_id)
    try:
        d = read_json(path)
        spans = tuple(tuple(s) for s in d["clips_s"])
        return VideoSource(d["video_id"], d["url"], d["local"], spans, d.get("item"))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise StageFailure(f"{root.relative(path)}: unreadable source record ({e!r})") from e
