"""Manifests and the status table are rebuilt from markers alone."""

from storage.config import load_config
from storage.formats import ClipInfo, write_clip_info
from storage.manifest import status_table, write_manifests
from storage.markers import StageFailure
from storage.schemas import CLIPS, read_table
from storage.stages import run_item_stage


def _fail():
    raise StageFailure("no floor found")


def test_manifests_reflect_markers(root) -> None:
    cfg = load_config()
    for stage in ("download", "shots"):
        run_item_stage(root, cfg, "v", stage, lambda: {"duration_s": 4.0})
    for shot in (0, 1):
        cid = f"v-{shot:03d}"
        write_clip_info(
            root.clip_json(cid), ClipInfo(cid, "v", shot, shot * 48, shot * 48 + 48, 0, 2, 24)
        )
        run_item_stage(root, cfg, cid, "frames", lambda: None)
    run_item_stage(root, cfg, "v-001", "indoor", _fail)

    tables = write_manifests(root)
    clips = read_table(root.manifest / "clips.parquet", CLIPS)
    assert list(clips.clip_id) == ["v-000", "v-001"]
    assert clips.set_index("clip_id").loc["v-001", "reason"] == "no floor found"
    assert tables["videos"].num_clips.tolist() == [2]

    st = status_table(root).set_index("item")
    assert st.loc["v-000", "frames"] == "ok"
    assert st.loc["v-001", "indoor"] == "failed"
    assert st.loc["v", "kind"] == "video"


def test_clip_manifest_says_where_each_clips_scale_came_from(root) -> None:
    from storage.markers import Marker, write_marker

    cases = {"v-000": {"scale_source": "measured", "scale_method": "ceiling"},
             "v-001": {"method": "floor+camera-height"},  # before provenance was recorded
             "v-002": None}  # fmt: skip
    for shot, (cid, stats) in enumerate(cases.items()):
        write_clip_info(root.clip_json(cid), ClipInfo(cid, "v", shot, 0, 48, 0, 2, 24))
        if stats is not None:
            write_marker(root.clip_marker(cid, "align"),
                         Marker(stage="align", item=cid, status="ok", stats=stats))  # fmt: skip
    write_manifests(root)
    clips = read_table(root.manifest / "clips.parquet", CLIPS).set_index("clip_id")
    assert clips.loc["v-000", ["scale_source", "scale_method"]].tolist() == ["measured", "ceiling"]
    assert clips.loc["v-001", ["scale_source", "scale_method"]].tolist() == [
        "assumed",
        "camera-height",
    ]
    assert clips.loc["v-002", ["scale_source", "scale_method"]].isna().all()  # not aligned yet
