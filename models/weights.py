"""Finding model weights: a local path, or a Hugging Face Hub id fetched through huggingface_hub.

Respects ``HF_HUB_OFFLINE``. Every miss raises one :class:`WeightsNotFound` that names the id,
the file, and how to fetch it with the tools this machine has (``hf download``, the Hugging Face
CLI that huggingface_hub installs; curl or wget for files outside the Hub), so a user never has
to read a traceback to know what to do. What each backend needs is declared by the backend
(``models.backends.required_weights``); ``flows.preflight`` checks it all before any work.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path


class WeightsNotFound(FileNotFoundError):
    """Weights that are neither on disk nor obtainable from the Hub (offline, private, missing)."""


def hf_command() -> str:
    """How to call the Hugging Face CLI here: ``hf`` on PATH, else the one beside this Python."""
    if shutil.which("hf"):
        return "hf"
    beside = Path(sys.executable).parent / "hf"
    return str(beside) if beside.exists() else "hf"


def download_command(url: str, dest: Path) -> str:
    """A shell command fetching `url` to the file `dest` with a tool this machine has."""
    d, u = shlex.quote(str(dest)), shlex.quote(url)
    if shutil.which("curl"):
        return f"curl -fL --create-dirs -o {d} {u}"
    mkdir = f"mkdir -p {shlex.quote(str(dest.parent))} && "
    if shutil.which("wget"):
        return f"{mkdir}wget -O {d} {u}"
    fetch = "import sys,urllib.request as r; r.urlretrieve(*sys.argv[1:])"
    return f"{mkdir}{shlex.quote(sys.executable)} -c '{fetch}' {u} {d}"


def fetch_command(
    repo_id: str, filename: str | None, patterns: tuple[str, ...] | None = None
) -> str:
    """The `hf download` line that puts a Hub repo (or one of its files) in the cache."""
    parts = [hf_command(), "download", repo_id]
    if filename:
        parts.append(filename)
    for p in patterns or ():
        parts += ["--include", p]
    return shlex.join(parts)


def _hint(repo_id: str, filename: str | None) -> str:
    return (
        f"fetch them on a machine with internet: `{fetch_command(repo_id, filename)}` "
        f"(they land in the Hugging Face cache; copy it or set HF_HOME), or pass a local path"
    )


def split_spec(spec: str, default_filename: str | None = None) -> tuple[str, str | None]:
    """'owner/repo/sub/file.pth' → ('owner/repo', 'sub/file.pth'); 'owner/repo' → (it, default)."""
    parts = spec.strip("/").split("/")
    if len(parts) > 2:
        return "/".join(parts[:2]), "/".join(parts[2:])
    return spec, default_filename


def resolve_file(
    spec: str | os.PathLike[str], default_filename: str | None = None, *, what: str = "weights"
) -> Path:
    """A local file for `spec`: the path itself if it exists, else a file from a Hub repo.

    `spec` is a path, ``owner/repo`` (then `default_filename` is fetched) or
    ``owner/repo/path/in/repo``. A local folder without `default_filename`, or a missing path
    spelt as one (starting with ``.``, ``/`` or ``~``), is a :class:`WeightsNotFound` naming the
    path, never a Hub lookup of a repo made of its parts.
    """
    p = Path(spec).expanduser()
    if p.is_file():
        return p
    if p.is_dir():
        if default_filename and (p / default_filename).is_file():
            return p / default_filename
        raise WeightsNotFound(
            f"{what}: folder {p} holds no {default_filename}"
            if default_filename
            else f"{what}: {p} is a folder, not a weights file"
        )
    if str(spec).startswith((".", "/", "~")):
        raise WeightsNotFound(f"{what}: local path {p} does not exist")
    repo_id, filename = split_spec(str(spec), default_filename)
    if filename is None:
        raise WeightsNotFound(f"{what}: {spec!r} is not a file and names no file in a Hub repo")
    return _hub_file(repo_id, filename, what)


def resolve_dir(
    spec: str | os.PathLike[str], *, what: str = "model", allow_patterns: list[str] | None = None
) -> Path:
    """A local folder for `spec` (a transformers-style model folder or a Hub repo id)."""
    p = Path(spec).expanduser()
    if p.is_dir():
        return p
    if p.suffix or str(spec).startswith((".", "/", "~")):
        raise WeightsNotFound(f"{what}: local path {p} does not exist")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(str(spec), allow_patterns=allow_patterns))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as e:
        raise WeightsNotFound(
            f"{what}: Hub repo {spec!r} is not in the local cache and could not be downloaded "
            f"({type(e).__name__}); fetch them on a machine with internet: "
            f"`{fetch_command(str(spec), None, tuple(allow_patterns or ()))}` (they land in the "
            f"Hugging Face cache; copy it or set HF_HOME), or pass a local path"
        ) from e


def _hub_file(repo_id: str, filename: str, what: str) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(hf_hub_download(repo_id, filename))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as e:
        raise WeightsNotFound(
            f"{what}: file {filename!r} of Hub repo {repo_id!r} is not in the local cache and could "
            f"not be downloaded ({type(e).__name__}); {_hint(repo_id, filename)}"
        ) from e
