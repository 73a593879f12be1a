"""Identifier sanitising: ids become folder names, so they are never trusted as paths."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlparse

_BAD = re.compile(r"[^A-Za-z0-9_-]+")
MAX_ID_LEN = 64


class InvalidIdError(ValueError):
    """An id that cannot be made safe (empty after sanitising)."""


def sanitize_id(raw: str, max_len: int = MAX_ID_LEN) -> str:
    """Return `raw` reduced to ``[A-Za-z0-9_-]`` (runs of other chars become ``_``), trimmed."""
    cleaned = _BAD.sub("_", raw).strip("_-")[:max_len]
    if not cleaned:
        raise InvalidIdError(f"id {raw!r} has no safe characters")
    return cleaned


def short_hash(text: str, n: int = 8) -> str:
    """A short stable hex digest of `text`."""
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def id_from_url(url: str) -> str:
    """An id for a source yt-dlp could not name: the URL's last path part, sanitised, plus a hash."""
    parsed = urlparse(url)
    stem = (parsed.path.rstrip("/").rsplit("/", 1)[-1] or parsed.netloc or "source").rsplit(".", 1)[
        0
    ]
    try:
        base = sanitize_id(stem, max_len=40)
    except InvalidIdError:
        base = "source"
    return f"{base}-{short_hash(url)}"


def clip_id(video_id: str, shot: int) -> str:
    """``{video_id}-{shot:03d}``, the id of a clip (one shot of one video)."""
    return f"{sanitize_id(video_id)}-{shot:03d}"


def video_id_of_clip(cid: str) -> str:
    """Inverse of :func:`clip_id`."""
    return cid.rsplit("-", 1)[0]
