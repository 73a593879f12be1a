"""Finding model weights: a local path, or a Hugging Face Hub id fetched through huggingface_hub.

Respects ``HF_HUB_OFFLINE``. Every miss raises one :class:`WeightsNotFound` that names the id,
the file, and how to fetch it, so a user never has to read a traceback to know what to do.

It also holds the registry of what each model backend loads: ``BACKENDS`` maps
(config section, backend name) to the module that implements it, and that module's
``weights_needed(cfg) -> list[WeightsNeed]`` says which weights the config makes it load.
:func:`needed_weights` collects them for the backends a config chooses, so a preflight can check
every model before any work starts. A new backend adds one line to ``BACKENDS`` (or calls
:func:`register_backend`) and defines ``weights_needed`` (an empty list when it loads none).
"""

from __future__ import annotations

import importlib
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

BACKENDS: dict[tuple[str, str], str] = {
    ("reconstruct", "dust3r"): "models.dust3r",
    ("indoor", "places365"): "models.places365",
    ("segment", "mask2former-ade"): "models.segmenters.mask2former",
    ("segment", "san"): "models.segmenters.san",
    ("train", "dinov2"): "models.embed",
}
"""(config section, backend) → module defining ``weights_needed(cfg)``; backends absent here
(``synthetic-gt``) load no weights."""

FIXED_BACKENDS = {"train": "dinov2"}
"""Sections without a ``backend`` key, and the one backend they use."""


class WeightsNotFound(FileNotFoundError):
    """Weights that are neither on disk nor obtainable from the Hub (offline, private, missing)."""


@dataclass(frozen=True)
class WeightsNeed:
    """One set of weights a configured backend will load.

    `spec` is what the config says (a local path or a Hub id, possibly ``owner/repo/file``);
    `filename` the file to find inside a local folder or Hub repo (None: a model folder, e.g.
    transformers); `patterns` the files of a Hub repo that are needed; `url` a direct download
    for weights that are not on the Hub (Places365).
    """

    what: str
    config_key: str
    spec: str
    kind: Literal["file", "folder"] = "folder"
    filename: str | None = None
    patterns: tuple[str, ...] | None = None
    url: str | None = None

    @property
    def local(self) -> bool:
        """True when `spec` is a path on this machine rather than a Hub id."""
        return self.spec.startswith((".", "/", "~")) or Path(self.spec).expanduser().exists()


def locate(need: WeightsNeed) -> Path:
    """Where `need` is on this machine (a file, or a model folder with ``config.json``).

    A Hub id is looked up in the Hugging Face cache, and downloaded into it unless
    ``HF_HUB_OFFLINE`` is set. Raises :class:`WeightsNotFound` when it is not there.
    """
    p = Path(need.spec).expanduser()
    if need.kind == "file":
        if need.local:
            for cand in (p, p / (need.filename or "")):
                if cand.is_file():
                    return cand
            raise WeightsNotFound(f"{need.what}: no file at {p}")
        return resolve_file(need.spec, need.filename, what=need.what)
    folder = p if need.local else resolve_dir(need.spec, what=need.what, allow_patterns=
                                              list(need.patterns) if need.patterns else None)  # fmt: skip
    if not (folder / "config.json").is_file():
        raise WeightsNotFound(f"{need.what}: {folder} holds no config.json")
    return folder


def how_to_fetch(need: WeightsNeed) -> str:
    """A command (or, for a bare local path, an instruction) that puts `need` in place."""
    p = Path(need.spec).expanduser()
    if need.local:
        if need.url:
            dest = p if need.filename is None or p.name == need.filename else p / need.filename
            return download_command(need.url, dest)
        return f"put the weights at {p}, or point {need.config_key} at them"
    repo_id, filename = split_spec(need.spec, need.filename if need.kind == "file" else None)
    return fetch_command(repo_id, filename, need.patterns)


def register_backend(section: str, backend: str, module: str) -> None:
    """Declare that `module` implements `backend` of config `section` (see module docstring)."""
    BACKENDS[(section, backend)] = module


def backend_of(cfg: Any, section: str) -> str | None:
    """The backend the config chooses for `section`."""
    return getattr(getattr(cfg, section), "backend", None) or FIXED_BACKENDS.get(section)


def needed_weights(cfg: Any, sections: tuple[str, ...]) -> list[WeightsNeed]:
    """Every :class:`WeightsNeed` of the backends `cfg` chooses for `sections`, in order."""
    needs: list[WeightsNeed] = []
    for section in sections:
        module = BACKENDS.get((section, backend_of(cfg, section) or ""))
        if module is not None:
            needs += importlib.import_module(module).weights_needed(cfg)
    return needs


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
    if shutil.which("wget"):
        return f"mkdir -p {shlex.quote(str(dest.parent))} && wget -O {d} {u}"
    return f"{shlex.quote(sys.executable)} -c 'import sys,urllib.request as r; r.urlretrieve(*sys.argv[1:])' {u} {d}"


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
    ``owner/repo/path/in/repo``.
    """
    p = Path(spec).expanduser()
    if p.is_file():
        return p
    if p.is_dir() and default_filename and (p / default_filename).is_file():
        return p / default_filename
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
            f"({type(e).__name__}); {_hint(str(spec), None)}"
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
