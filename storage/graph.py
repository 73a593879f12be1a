"""The stage graph, declared once: every stage, what it reads, its config, its outputs.

Each :class:`Stage` names the stages whose outputs it reads (``reads``), its config section
(and, for model stages, the registry of backends its ``backend`` key chooses from), the files
it writes with their format, and a code ``version`` to bump when its code changes what it
writes. Everything else derives from this table: the per-clip run order, which stages re-run
after a change (:func:`downstream_of`), stage keys and the "done" predicate
(``storage.stages``), status, the report and the dataset freeze.

Per video: download → shots. Per clip::

    frames → indoor (a gate: an outdoor clip stops here)
    frames → reconstruct → clean → align
    frames → segment
    {reconstruct, clean, align, segment} → voxelize

Adding a stage: one ``Stage(...)`` line below (after the stages it reads), its config section
in ``storage/config.py``, and its module in ``tasks/`` registered in ``flows/build.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Output:
    """Files a stage writes: a glob relative to the data root (``{item}`` = the item's id) and
    the format they hold (a reader/writer in ``storage.formats``, or the file kind)."""

    pattern: str
    format: str


@dataclass(frozen=True)
class Stage:
    """One stage: see the module docstring."""

    name: str
    kind: Literal["video", "clip"]
    reads: tuple[str, ...]
    section: str
    outputs: tuple[Output, ...] = ()
    registry: str | None = None
    """``module:NAME`` of the backend registry its section's ``backend`` chooses from."""
    version: int = 1
    gate: bool = False
    """A gate ends the clip when it is not ``ok`` (skipped outdoor clips), though no stage
    reads its outputs (so its parameters do not reach their keys)."""


V, C = "videos/{item}", "clips/{item}"
STAGES: tuple[Stage, ...] = (
    Stage("download", "video", (), "download",
          (Output(f"{V}/video.mp4", "video"), Output(f"{V}/info.json", "json"))),
    Stage("shots", "video", ("download",), "shots",
          (Output("clips/{item}-[0-9][0-9][0-9]/clip.json", "clip"),)),
    Stage("frames", "clip", ("shots",), "frames",
          (Output(f"{C}/frames/[0-9][0-9][0-9][0-9].jpg", "jpeg"),
           Output(f"{C}/frames/index.json", "frames-index"))),
    Stage("indoor", "clip", ("frames",), "indoor", (), "models.scene:SCENE_CLASSIFIERS",
          gate=True),
    Stage("reconstruct", "clip", ("frames",), "reconstruct", (Output(f"{C}/recon.npz", "recon"),),
          "models.reconstructors:RECONSTRUCTORS"),
    Stage("clean", "clip", ("reconstruct",), "clean", (Output(f"{C}/cloud.npz", "cloud"),)),
    Stage("align", "clip", ("clean",), "align", (Output(f"{C}/align.json", "align"),)),
    Stage("segment", "clip", ("frames",), "segment",
          (Output(f"{C}/segments/[0-9][0-9][0-9][0-9].npz", "segment"),),
          "models.segmenters:SEGMENTERS"),
    Stage("voxelize", "clip", ("reconstruct", "clean", "align", "segment"), "voxelize",
          (Output(f"{C}/occ/[0-9][0-9][0-9][0-9].npz", "sample"),)),
)  # fmt: skip
"""Every stage, each after the stages it reads (a topological order: the run order)."""

GRAPH: dict[str, Stage] = {s.name: s for s in STAGES}
VIDEO_STAGES: tuple[str, ...] = tuple(s.name for s in STAGES if s.kind == "video")
CLIP_STAGES: tuple[str, ...] = tuple(s.name for s in STAGES if s.kind == "clip")
ALL_STAGES: tuple[str, ...] = VIDEO_STAGES + CLIP_STAGES


def _check() -> None:
    seen: set[str] = set()
    for s in STAGES:
        unknown = [r for r in s.reads if r not in seen]
        if unknown:
            raise ValueError(f"stage {s.name} reads {unknown}, not declared before it")
        if s.kind == "video" and any(GRAPH[r].kind == "clip" for r in s.reads):
            raise ValueError(f"video stage {s.name} cannot read a clip stage")
        seen.add(s.name)


_check()


def stage(name: str) -> Stage:
    """The stage called `name`; ValueError listing the stages otherwise."""
    if name not in GRAPH:
        raise ValueError(f"unknown stage {name!r}; stages are {', '.join(ALL_STAGES)}")
    return GRAPH[name]


def downstream_of(name: str) -> tuple[str, ...]:
    """`name` and every stage that reads it, directly or not, in run order (what must re-run
    when `name` changes)."""
    out = {stage(name).name}
    for s in STAGES:
        if out & set(s.reads):
            out.add(s.name)
    return tuple(s.name for s in STAGES if s.name in out)


def mermaid() -> str:
    """The graph as a Mermaid flowchart (the README's diagram; a test keeps them equal)."""
    lines = ["flowchart LR"]
    for s in STAGES:
        for r in s.reads:
            lines.append(f"    {r} --> {s.name}")
    return "\n".join(lines)
