"""The three model-stage backend protocols, their registries, and the weights each one needs.

A backend is a class built from the whole :class:`~storage.config.Config` (it reads its own
subsection, e.g. ``reconstruct.dust3r``) that answers for one clip's frames
(:class:`storage.frames.ClipFrames`):

- :class:`Reconstructor` → K, cam2world, z-depth, confidence (``reconstruct``),
- :class:`SceneClassifier` → an outdoor score per frame (``indoor``),
- :class:`Segmenter` → NYU-11 labels and region ids per frame (``segment``).

Each kind has a :class:`Registry` of ``name → "module:Class"`` (imported on first use, so a
backend's heavy libraries load only when it is chosen). A new backend is one new module plus
one registry line (``models/reconstructors/__init__.py``, ``models/scene/__init__.py``,
``models/segmenters/__init__.py``). Backends never import a stage module (``tasks/``).

:func:`required_weights` lists, for a config, the weights its chosen backends need as
:class:`WeightSpec` values whose :meth:`WeightSpec.locate` finds them on disk or in the Hugging
Face cache without loading them (raising :class:`models.weights.WeightsNotFound`): the hook a
preflight calls.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np

if TYPE_CHECKING:
    from storage.config import Config
    from storage.frames import ClipFrames


@dataclass(frozen=True)
class WeightSpec:
    """Weights a chosen backend needs: which stage and backend, the spec (path or Hub id), what
    they are (for messages), and how to find them (`locate`, which never loads a network)."""

    stage: str
    backend: str
    spec: str
    what: str
    locate: Callable[[], Path]


class Backend(Protocol):
    """What every backend has: its registry name and the weights it needs."""

    name: ClassVar[str]

    @classmethod
    def required_weights(cls, cfg: Config) -> list[WeightSpec]:
        """The weights this backend would load under `cfg` (empty for synthetic-gt)."""
        ...

    @property
    def weights_id(self) -> str | None:
        """What produced the output (a weights id, or the truth folder), for the marker."""
        ...


class WeightFree:
    """Mixin for backends that load no learned weights (COLMAP, synthetic-gt, none)."""

    @classmethod
    def required_weights(cls, cfg: Config) -> list[WeightSpec]:
        return []

    @property
    def weights_id(self) -> str | None:
        return None


class ReadsTruth(WeightFree):
    """Mixin for synthetic-gt backends: they read the tour's truth, which names their output."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    @property
    def weights_id(self) -> str:
        return str(self.cfg.truth_dir)


class Reconstructor(Backend, Protocol):
    """Frames → camera and depth per frame, at the stored frame size."""

    def reconstruct(self, clip: ClipFrames) -> dict[str, np.ndarray]:
        """{"K" (F,3,3) px, "cam2world" (F,4,4) OpenCV axes, "depth" (F,H,W) z-depth,
        "conf" (F,H,W)} plus any extra arrays to store, and optionally "stats" (a dict of
        numbers and names for the stage marker, not stored); StageFailure for a clip it cannot do."""
        ...


class SceneClassifier(Backend, Protocol):
    """Frames → how outdoor each one looks."""

    def outdoor_scores(self, clip: ClipFrames) -> tuple[np.ndarray, list[str]]:
        """(outdoor score in [0, 1] per frame (F,), top-1 scene name per frame or [])."""
        ...


class Segmenter(Backend, Protocol):
    """Frames → NYU-11 labels and regions per frame, at the stored frame size."""

    def segment(self, clip: ClipFrames) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per frame (labels uint8 (H,W) in 0..11, regions int32 (H,W), -1 = none)."""
        ...


class Registry:
    """Backends of one kind by name: ``name → "module:Class"``, imported when first used."""

    def __init__(self, kind: str, entries: dict[str, str]) -> None:
        self.kind = kind
        self.entries = dict(entries)

    def names(self) -> tuple[str, ...]:
        return tuple(self.entries)

    def get(self, name: str) -> type:
        """The class of backend `name`; ValueError listing the known names otherwise."""
        if name not in self.entries:
            raise ValueError(f"unknown {self.kind} {name!r}; known: {', '.join(self.entries)}")
        module, cls = self.entries[name].split(":")
        return getattr(importlib.import_module(module), cls)

    def create(self, name: str, cfg: Config) -> Backend:
        """Backend `name` built from `cfg`."""
        return self.get(name)(cfg)


def registry_of(stage: str) -> Registry:
    """The registry of a model stage (named in the stage graph, ``storage.stages``)."""
    from storage.stages import GRAPH

    path = GRAPH[stage].registry
    if path is None:
        raise ValueError(f"stage {stage!r} has no backends")
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def backend_for(stage: str, cfg: Config) -> Backend:
    """The backend `cfg` chooses for model stage `stage`, built."""
    return registry_of(stage).create(cfg.section(stage).backend, cfg)  # type: ignore[attr-defined]


def required_weights(cfg: Config) -> list[WeightSpec]:
    """Weights the backends `cfg` chooses need, over every model stage of the graph."""
    from storage.stages import GRAPH

    out: list[WeightSpec] = []
    for stage in GRAPH.values():
        if stage.registry is not None:
            backend = cfg.section(stage.section).backend  # type: ignore[attr-defined]
            out += registry_of(stage.name).get(backend).required_weights(cfg)
    return out
