"""The build report counts the aligned clips by where their metric scale came from."""

from __future__ import annotations

from flows.report import markdown_report, scale_sources
from storage.config import Config
from tests.support.tiny_dataset import align_provenance, build_root


def test_report_counts_measured_and_assumed_scales(root):
    clips = build_root(root)  # 4 clips
    for cid, method in zip(clips, ["ceiling", "wall-top", "wall-top", None], strict=True):
        align_provenance(root, cid, method)
    table = scale_sources(root)
    got = {(r.scale, r.method): r.clips for r in table.itertuples()}
    assert got == {("measured", "ceiling"): 1, ("assumed", "wall-top"): 2, ("unknown", ""): 1}
    text = markdown_report(root, Config(), [], None, 1.0)
    assert "## Scale" in text and "| assumed | wall-top | 2 |" in text
