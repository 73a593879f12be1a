"""download stage: fetch a video with yt-dlp (or copy a local file), then validate it by decoding.

yt-dlp "succeeds" on truncated or non-video files (its generic extractor checks nothing), so
the file only counts once PyAV has decoded its first and last frames. Transient network errors
(a connection reset or dropped mid-transfer, a timeout, HTTP 5xx/429/408) are retried with
back-off inside the stage; permanent ones (404, refused, not a video) are not. What is still
failing after that ends the video with yt-dlp's reason in its marker. A URL that turns out to
hold several videos is refused rather than cut down to one (sources expand such pages into one
video per entry, fetched as ``item``). Finished videos are listed in ``videos/archive.txt``.
"""

from __future__ import annotations

import http.client
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import task

from storage.atomic import atomic_path, write_json, write_text
from storage.config import Config, DownloadConfig
from storage.layout import DataRoot
from storage.markers import Marker, StageFailure, StageResult
from storage.stages import run_item_stage
from tasks.sources import VideoSource, YtDlpLog
from tasks.validate import probe_video

STAGE = "download"
_TRANSIENT = ("timed out", "timeout", "temporarily", "connection reset", "http error 5",
              "remote end closed", "incomplete read", "more expected", "http error 429")  # fmt: skip
_TRANSIENT_TYPES = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, TimeoutError,
                    http.client.IncompleteRead, http.client.RemoteDisconnected)  # fmt: skip
_TRANSIENT_STATUS = {408, 429}  # request timeout, too many requests (besides every 5xx)
_INFO_DROP = ("formats", "thumbnails", "requested_formats", "automatic_captions", "subtitles",
              "heatmap", "http_headers")  # fmt: skip


def ydl_options(cfg: DownloadConfig, out_dir: Path) -> dict[str, Any]:
    """yt-dlp options: ≤ max_height, mp4 preferred, unknown heights allowed, polite, quiet."""
    h = cfg.max_height
    fmt = cfg.format or f"best[ext=mp4][height<=?{h}]/best[height<=?{h}]/bv*[height<=?{h}]+ba/best"
    opts: dict[str, Any] = {
        "format": fmt,
        "outtmpl": str(out_dir / "video.%(ext)s"),
        "merge_output_format": "mp4",
        "noplaylist": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "socket_timeout": cfg.socket_timeout_s,
        "retries": 1,
        "sleep_interval": cfg.sleep_interval_s or None,
        "max_sleep_interval": cfg.max_sleep_interval_s or None,
        "ratelimit": _rate(cfg.rate_limit),
        "cookiefile": cfg.cookies_file,
        "logger": YtDlpLog("ytocc.download"),
    }
    return {k: v for k, v in opts.items() if v is not None}


def _rate(text: str | None) -> int | None:
    if not text:
        return None
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1].upper(), 1)
    return int(float(text.rstrip("KMGkmg")) * mult)


def is_transient(error: BaseException) -> bool:
    """Network trouble worth another try, as opposed to 404/refused/private/not a video.

    Looks through the exception chain (yt-dlp wraps the cause in ``DownloadError.exc_info``)
    for a dropped or reset connection, a timeout, or an HTTP status 5xx/429/408; the message
    is the fallback for causes yt-dlp flattened into text.
    """
    from yt_dlp.networking.exceptions import HTTPError, IncompleteRead
    from yt_dlp.utils import ContentTooShortError

    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, HTTPError):
            return e.status >= 500 or e.status in _TRANSIENT_STATUS
        if isinstance(e, (ContentTooShortError, IncompleteRead, *_TRANSIENT_TYPES)):
            return True
        info = getattr(e, "exc_info", None)
        todo += [e.__cause__, e.__context__, info[1] if info else None]
    m = str(error).lower()
    return any(t in m for t in _TRANSIENT)


def fetch_with_ytdlp(
    source: VideoSource, out_dir: Path, cfg: DownloadConfig
) -> tuple[Path, dict[str, Any], int]:
    """Download `source` into `out_dir`, retrying transient errors; (file, info, attempts)."""
    import yt_dlp

    opts = ydl_options(cfg, out_dir)
    if source.item is not None:  # one <video> of a page that holds several
        opts |= {"noplaylist": False, "playlist_items": str(source.item)}
    delays = list(cfg.retry_delays_s) or [0.0]
    for attempt in range(cfg.retries + 1):
        try:
            with yt_dlp.YoutubeDL(opts) as ydl:
                found = ydl.extract_info(source.url, download=False, process=False) or {}
                entries = [e for e in found.get("entries") or [] if e]
                if source.item is None and len(entries) > 1:
                    raise StageFailure(
                        f"{source.url} holds {len(entries)} videos: give it as a source of its "
                        "own to harvest each as a video",
                        attempts=attempt + 1,
                    )
                info = ydl.sanitize_info(ydl.process_ie_result(found, download=True))
            break
        except yt_dlp.utils.DownloadError as e:
            reason = str(e).removeprefix("ERROR: ").strip()
            if attempt < cfg.retries and is_transient(e):
                time.sleep(delays[min(attempt, len(delays) - 1)])
                continue
            raise StageFailure(f"yt-dlp: {reason}", attempts=attempt + 1) from e
    files = [
        p for p in out_dir.iterdir() if p.is_file() and not p.name.endswith((".part", ".ytdl"))
    ]
    if len(files) != 1:
        raise StageFailure(
            "yt-dlp reported success but wrote no file"
            if not files
            else f"yt-dlp wrote {len(files)} files for one video ({sorted(p.name for p in files)})"
        )
    return files[0], info, attempt + 1


def in_archive(root: DataRoot, video_id: str) -> bool:
    """True when a previous run downloaded and validated `video_id`."""
    path = root.download_archive
    return path.exists() and video_id in path.read_text(encoding="utf-8").split()


def add_to_archive(root: DataRoot, video_id: str) -> None:
    text = (
        root.download_archive.read_text(encoding="utf-8") if root.download_archive.exists() else ""
    )
    if video_id not in text.split():
        write_text(root.download_archive, text + video_id + "\n")


def download(root: DataRoot, source: VideoSource, cfg: DownloadConfig) -> StageResult:
    """Fetch (or reuse an archived, still valid) video into ``videos/{id}/video.mp4`` and probe it."""
    vid = source.video_id
    final = root.video_file(vid)
    if in_archive(root, vid) and final.exists():
        return StageResult({**probe_video(final, cfg.min_duration_s), "archived": True})
    work = root.video_dir(vid) / ".download"
    shutil.rmtree(work, ignore_errors=True)  # a killed run's .part files
    work.mkdir(parents=True)
    try:
        attempts = 1
        if source.local:
            src, info = Path(source.url), {"title": Path(source.url).stem, "url": source.url}
            if not src.is_file():
                raise StageFailure(f"{src}: no such file")
        else:
            src, info, attempts = fetch_with_ytdlp(source, work, cfg)
        try:
            probe = probe_video(src, cfg.min_duration_s)
        except StageFailure as e:
            raise StageFailure(f"{source.url}: {e.reason}", **e.stats) from e
        with atomic_path(final) as tmp:
            shutil.copyfile(src, tmp)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_json(root.info_json(vid), {k: v for k, v in info.items() if k not in _INFO_DROP})
    add_to_archive(root, vid)
    return StageResult(
        {**probe, "url": source.url, "bytes": final.stat().st_size, "attempts": attempts}
    )


def run(root: DataRoot, cfg: Config, source: VideoSource, *, force: bool = False) -> Marker:
    """The download stage of one video: record its source, fetch, validate, mark."""
    write_json(root.source_json(source.video_id), asdict(source))
    return run_item_stage(
        root, cfg, source.video_id, STAGE, lambda: download(root, source, cfg.download), force=force
    )


download_task = task(name="download", tags=["network"])(run)
