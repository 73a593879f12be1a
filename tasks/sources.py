"""Expanding SOURCE arguments into videos: URLs, playlists/channels, URL lists, RealEstate10K
camera files, local files. Ids are decided here, before any download, so that every source,
even one that fails at once, gets a marker of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from storage.config import DownloadConfig
from storage.ids import id_from_url, sanitize_id, short_hash

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
    """`url` if its scheme is allowed, else a SourceError naming the allowed schemes."""
    scheme = urlparse(url).scheme.lower()
    if scheme not in cfg.allowed_schemes:
        raise SourceError(
            f"{url!r}: scheme {scheme or '(none)'!r} not allowed ({cfg.allowed_schemes})"
        )
    return url


def read_url_list(path: Path) -> list[str]:
    """URLs of a text file: one a line, blank lines and ``#`` comments ignored."""
    lines = (ln.split("#", 1)[0].strip() for ln in path.read_text(encoding="utf-8").splitlines())
    return [ln for ln in lines if ln]


def read_realestate10k(folder: Path) -> dict[str, list[tuple[float, float]]]:
    """URL → clip spans (s) from RealEstate10K camera files (line 1 URL, then rows 'ts_us ...')."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for txt in sorted(folder.glob("*.txt")):
        lines = txt.read_text(encoding="utf-8").split("\n")
        url = lines[0].strip()
        stamps = [int(row.split()[0]) for row in lines[1:] if row.strip()]
        if url and stamps:
            spans.setdefault(url, []).append((min(stamps) / 1e6, max(stamps) / 1e6))
    return spans


def list_flat(url: str) -> list[str]:
    """Entries of a playlist or channel, listed flat by yt-dlp (no video is downloaded)."""
    import yt_dlp

    with yt_dlp.YoutubeDL({"extract_flat": "in_playlist", "quiet": True, "no_warnings": True}) as y:
        info = y.extract_info(url, download=False) or {}
    entries = info.get("entries") or []
    return [
        e.get("url") or e.get("webpage_url")
        for e in entries
        if e and (e.get("url") or e.get("webpage_url"))
    ]


def expand_source(spec: str, cfg: DownloadConfig) -> list[VideoSource]:
    """The videos one SOURCE argument names (see module docstring)."""
    path = Path(spec).expanduser()
    if "://" not in spec and path.exists():
        if path.is_dir():
            spans = read_realestate10k(path)
            if not spans:
                raise SourceError(f"{spec}: folder holds no RealEstate10K camera files (*.txt)")
            return [
                VideoSource(video_id_for_url(check_url(u, cfg)), u, clips_s=tuple(s))
                for u, s in spans.items()
            ]
        if path.suffix.lower() == ".txt":
            return [v for u in read_url_list(path) for v in expand_source(u, cfg)]
        stem = sanitize_id(path.stem, max_len=40) if path.stem.strip("_-.") else "video"
        return [
            VideoSource(
                f"{stem}-{short_hash(str(path.resolve()))}", str(path.resolve()), local=True
            )
        ]
    check_url(spec, cfg)
    if is_listing(spec):
        return [v for u in list_flat(spec) for v in expand_source(u, cfg)]
    return [VideoSource(video_id_for_url(spec), spec)]


def expand_sources(
    specs: list[str], cfg: DownloadConfig
) -> tuple[list[VideoSource], list[tuple[str, str]]]:
    """All videos of `specs`, deduplicated by id, plus (spec, reason) for each unusable spec."""
    seen: dict[str, VideoSource] = {}
    errors: list[tuple[str, str]] = []
    for spec in specs:
        try:
            for v in expand_source(spec, cfg):
                seen.setdefault(v.video_id, v)
        except (SourceError, OSError) as e:
            errors.append((spec, str(e)))
    return list(seen.values()), errors
