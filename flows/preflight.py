"""Preflight: before `build`, `rerun`, `serve`, `stage` and `train` start any work, every model
the config will load is found (local path or Hugging Face cache; fetched into the cache unless
``HF_HUB_OFFLINE`` is set) and every dataset split a training command reads is there and not
empty. All problems are gathered into one :class:`PreflightError` listing each with what to do
(the command that fetches the weights), so a user fixes them in one go instead of one per run.

What a backend loads is declared by the backend itself (``models.backends.required_weights``,
each backend's ``required_weights``; DINOv2 in ``models.embed.required_weights``); this module
only checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.backends import WeightSpec
from models.weights import WeightsNotFound


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


def weights_check(spec: WeightSpec) -> Check:
    """Whether `spec` is on this machine; if not, why and how to fetch it."""
    name = f"{spec.what} ({spec.stage} backend {spec.backend}: {spec.spec})"
    try:
        return Check(name, True, str(spec.locate()))
    except WeightsNotFound as e:
        return Check(name, False, str(e))


def weights_checks(cfg: Any, stages: tuple[str, ...] | None = None, *, embed: bool = False) -> list[Check]:  # fmt: skip
    """A check per model the backends `cfg` chooses will load: every model stage's (or only
    `stages`'), plus the DINOv2 teacher of pretraining with `embed`."""
    from models.backends import required_weights
    from models.embed import required_weights as embed_weights

    specs = [s for s in required_weights(cfg) if stages is None or s.stage in stages]
    if embed:
        specs += embed_weights(cfg.train.embed_weights)
    return [weights_check(s) for s in specs]


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
