"""Reading torch pickle files (``.pth``, ``.pt``, ``.ckpt``) weights-only: the one place the
product calls ``torch.load``.

A torch checkpoint is a pickle, and unpickling can run code, so every one is read with
``weights_only=True``: PyTorch's restricted unpickler, which admits tensors, plain containers,
primitives and only the classes a caller names (DUSt3R's ``argparse.Namespace``). Every way a
read fails (a class it refuses, a file cut short or not a checkpoint at all) is one
:class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Sequence
from typing import Any

import torch


class CheckpointError(ValueError):
    """A checkpoint that is refused, unreadable, or does not fit the network it is meant for."""


def load_weights_only(
    path: str | os.PathLike[str], *, admit: Sequence[Any] = (), mmap: bool = False
) -> Any:
    """``torch.load(path, weights_only=True)`` onto the CPU, with the classes in `admit` allowed.

    Raises:
        CheckpointError: ``PATH: refused by weights-only loading (…)`` when the pickle names a
            class or function that is not admitted (it could run code); ``PATH: unreadable or
            truncated checkpoint (…)`` for anything else the reader raises (a legacy file cut
            after 1-3 bytes fails with an IndexError, after more with an EOFError; a cut zip
            with a RuntimeError; a missing file with an OSError).
    """
    try:
        with torch.serialization.safe_globals(list(admit)):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if found:
            raise CheckpointError(
                f"{path}: refused by weights-only loading (it names {found.group(1)}, which could "
                "run code); if you trust the file, re-save its tensors"
            ) from e
        raise CheckpointError(f"{path}: unreadable or truncated checkpoint ({reason(e)})") from e
    except Exception as e:  # noqa: BLE001 - the unpickler's error on cut or foreign bytes can be of any type
        raise CheckpointError(f"{path}: unreadable or truncated checkpoint ({reason(e)})") from e


def reason(exc: BaseException) -> str:
    """A short line saying why `exc` was raised: torch's own cause where it gives one, else the
    first sentence of its message (torch appends advice), else its type."""
    text = str(exc)
    cause = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    lines = (cause.group(1) if cause else text).strip().splitlines()
    return re.split(r"(?<=\w)\. ", lines[0].strip(), maxsplit=1)[0] if lines else type(exc).__name__
