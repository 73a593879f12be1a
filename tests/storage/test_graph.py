"""The stage graph is declared once and everything derives from it (issue 14)."""

from pathlib import Path

import flows.build as build
from storage.config import Config
from storage.graph import ALL_STAGES, CLIP_STAGES, GRAPH, STAGES, downstream_of, mermaid


def test_downstream_sets_follow_the_edges_not_the_list_order() -> None:
    assert downstream_of("clean") == ("clean", "align", "voxelize")
    assert downstream_of("segment") == ("segment", "voxelize")
    assert downstream_of("indoor") == ("indoor",)
    assert downstream_of("frames") == ("frames", "indoor", "reconstruct", "clean", "align",
                                       "segment", "voxelize")  # fmt: skip
    assert downstream_of("download") == ALL_STAGES


def test_every_stage_has_its_section_a_task_and_reads_only_earlier_stages() -> None:
    cfg = Config()
    seen: set[str] = set()
    for s in STAGES:
        assert set(s.reads) <= seen, s
        assert cfg.section(s.section) is not None
        seen.add(s.name)
    assert set(build.CLIP_TASKS) == set(CLIP_STAGES)
    assert GRAPH["voxelize"].reads == ("reconstruct", "clean", "align", "segment")


def test_the_readme_shows_the_declared_graph() -> None:
    readme = Path(__file__).resolve().parents[2] / "README.md"
    assert f"```mermaid\n{mermaid()}\n```" in readme.read_text()
