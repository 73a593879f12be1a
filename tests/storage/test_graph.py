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


def test_a_mis_declared_graph_is_refused_at_import(monkeypatch) -> None:
    """A stage listed before what it reads, or a video stage reading a clip stage (a video
    cannot wait for clips that it makes), is refused naming the stage; the real graph passes."""
    import pytest

    import storage.graph as graph
    from storage.graph import Stage

    graph._check()
    download, frames = Stage("download", "video", (), "download"), GRAPH["frames"]
    shots = Stage("shots", "video", ("download",), "shots")
    cases = {
        (frames, download): r"^stage frames reads \['shots'\], not declared before it$",
        (download, Stage("shots", "video", ("download", "frames"), "shots"), frames):
            r"^stage shots reads \['frames'\], not declared before it$",
        (download, shots, Stage("frames", "clip", ("shots",), "frames"),
         Stage("tally", "video", ("download", "frames"), "shots")):
            r"^video stage tally cannot read a clip stage$",
    }  # fmt: skip
    for stages, message in cases.items():
        monkeypatch.setattr(graph, "STAGES", stages)
        monkeypatch.setattr(graph, "GRAPH", {s.name: s for s in stages})
        with pytest.raises(ValueError, match=message):
            graph._check()
    monkeypatch.setattr(graph, "STAGES", (download, shots, GRAPH["frames"]))
    monkeypatch.setattr(graph, "GRAPH", {s.name: s for s in (download, shots, GRAPH["frames"])})
    graph._check()  # a clip stage reading a video stage is the normal case
