"""Preflight: before `build`, `rerun`, `serve` and `train` start any work, every model the config
will load is found (local path or Hugging Face cache; fetched into the cache unless
``HF_HUB_OFFLINE`` is set) and every dataset split a training command reads is there and not
empty. All problems are gathered into one :class:`PreflightError` listing each with the command
that fixes it, so a user fixes them in one go instead of one per run.

What a backend loads is declared by the backend itself (``models.weights.BACKENDS`` and each
module's ``weights_needed``); this module only checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.weights import WeightsNeed, WeightsNotFound, how_to_fetch, locate, needed_weights

BUILD_SECTIONS: tuple[str, ...] = ("indoor", "reconstruct", "segment")
"""Config sections whose backends a build (and a rerun, a served build) may load."""
PRETRAIN_SECTIONS: tuple[str, ...] = ("train",)
"""Config sections whose models pretraining loads (the DINOv2 teacher)."""


@dataclass(frozen=True)
class Check:
    """One preflight or doctor line: what was checked, whether it is fine, and what was found or
    what to do."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok ' if self.ok else 'FIX'} {self.name}: {self.detail}"


class PreflightError(RuntimeError):
    """Things missing before any work started; the message lists each with what to do."""

    def __init__(self, problems: list[Check]) -> None:
        self.problems = problems
        lines = [f"  {c.name}: {c.detail}" for c in problems]
        super().__init__(
            f"{len(problems)} thing(s) missing; nothing was started:\n" + "\n".join(lines)
        )


def weights_check(need: WeightsNeed) -> Check:
    """Whether `need` is on this machine; if not, how to fetch it."""
    name = f"{need.what} ({need.config_key}={need.spec})"
    try:
        return Check(name, True, str(locate(need)))
    except WeightsNotFound:
        where = "not at that path" if need.local else "not in the Hugging Face cache"
        return Check(name, False, f"{where}; fetch: {how_to_fetch(need)}")


def weights_checks(cfg: Any, sections: tuple[str, ...]) -> list[Check]:
    """A check per model the backends `cfg` chooses for `sections` will load."""
    return [weights_check(n) for n in needed_weights(cfg, sections)]


def dataset_check(path: str | Path, split: str, kind: str = "auto", rgb_root: str | None = None) -> Check:  # fmt: skip
    """Whether dataset `path` opens and its `split` holds at least one sample."""
    from storage.formats import FormatError
    from tasks.training.trainer import open_dataset

    name = f"dataset {path}, split {split}"
    try:
        n = len(open_dataset(path, split, kind, None, rgb_root))  # type: ignore[arg-type]
    except (FormatError, OSError, ValueError) as e:
        return Check(name, False, str(e))
    if n == 0:
        return Check(name, False, "has no samples (freeze more videos, or pick another split)")
    return Check(name, True, f"{n} samples")


def require(checks: list[Check]) -> None:
    """Raise one :class:`PreflightError` naming every failed check; nothing when all are ok."""
    problems = [c for c in checks if not c.ok]
    if problems:
        raise PreflightError(problems)
