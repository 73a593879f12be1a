"""Identifier sanitising and the video id scheme: ids become folder names, never trusted as paths.

A video reached by URL is named before it is downloaded (so a source that fails at once still gets
a marker): YouTube's own id where the URL has one (``tasks/sources.py``), else the URL's file stem
plus a short hash of the URL's *identity* (:func:`url_identity`). On a loopback host (127.0.0.0/8,
``localhost``, ``::1``) the identity leaves out host and port: a local server (the demo's, a
test's) gets a new ephemeral port on every run, and the same file reached through two such URLs
is one video. On any other host the identity is the URL as given, so ids of existing data roots
do not change.
"""

from __future__ import annotations

import hashlib
import ipaddress
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


def name_stem(raw: str, default: str, max_len: int = 40) -> str:
    """`raw` sanitised for the readable part of an id, or `default` when nothing safe is left."""
    try:
        return sanitize_id(raw, max_len=max_len)
    except InvalidIdError:
        return default


def short_hash(text: str, n: int = 8) -> str:
    """A short stable hex digest of `text`."""
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def is_loopback(host: str | None) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_identity(url: str) -> str:
    """What a video URL's id hashes: the URL, minus scheme, host and port on a loopback host
    (query and fragment kept: a fragment names one video of a page that holds several)."""
    parsed = urlparse(url)
    if is_loopback(parsed.hostname):
        query = f"?{parsed.query}" if parsed.query else ""
        fragment = f"#{parsed.fragment}" if parsed.fragment else ""
        return "loopback:" + parsed.path + query + fragment
    return url


def id_from_url(url: str) -> str:
    """An id for a URL with no site id: its last path part, sanitised, plus a hash of its identity."""
    parsed = urlparse(url)
    stem = (parsed.path.rstrip("/").rsplit("/", 1)[-1] or parsed.netloc or "source").rsplit(".", 1)[
        0
    ]
    return f"{name_stem(stem, 'source')}-{short_hash(url_identity(url))}"


def clip_id(video_id: str, shot: int) -> str:
    """``{video_id}-{shot:03d}``, the id of a clip (one shot of one video)."""
    return f"{sanitize_id(video_id)}-{shot:03d}"


def video_id_of_clip(cid: str) -> str:
    """Inverse of :func:`clip_id`."""
    return cid.rsplit("-", 1)[0]
