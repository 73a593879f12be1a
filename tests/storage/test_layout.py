"""The data root is laid out as DESIGN.md and the README document it, and ids never escape it."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.layout import (
    ALL_STAGES,
    CLIP_STAGES,
    VIDEO_STAGES,
    DataRoot,
    DataRootError,
    PathEscape,
    downstream_of,
    resolve_data_root,
)


def test_every_path_is_where_the_documentation_says(tmp_path) -> None:
    r = DataRoot(tmp_path)
    rel = lambda p: p.relative_to(tmp_path).as_posix()  # noqa: E731
    documented = {
        r.video_file("v1"): "videos/v1/video.mp4",
        r.info_json("v1"): "videos/v1/info.json",
        r.source_json("v1"): "videos/v1/source.json",
        r.video_marker("v1", "download"): "videos/v1/stages/download.json",
        r.download_archive: "videos/archive.txt",
        r.clip_json("v1-000"): "clips/v1-000/clip.json",
        r.frame_path("v1-000", 7): "clips/v1-000/frames/0007.jpg",
        r.frames_index("v1-000"): "clips/v1-000/frames/index.json",
        r.recon_npz("v1-000"): "clips/v1-000/recon.npz",
        r.cloud_npz("v1-000"): "clips/v1-000/cloud.npz",
        r.align_json("v1-000"): "clips/v1-000/align.json",
        r.segment_path("v1-000", 12): "clips/v1-000/segments/0012.npz",
        r.occ_path("v1-000", 3): "clips/v1-000/occ/0003.npz",
        r.clip_marker("v1-000", "voxelize"): "clips/v1-000/stages/voxelize.json",
        r.manifest: "manifest",
        r.dataset_dir("demo"): "datasets/demo",
        r.reports: "reports",
        r.locks: "locks",
    }
    assert {rel(p): want for p, want in documented.items()} == {w: w for w in documented.values()}


def test_marker_goes_to_the_video_or_the_clip_by_stage(tmp_path) -> None:
    r = DataRoot(tmp_path)
    for s in VIDEO_STAGES:
        assert r.marker("v1", s) == r.video_marker("v1", s)
    for s in CLIP_STAGES:
        assert r.marker("v1-000", s) == r.clip_marker("v1-000", s)
    assert ALL_STAGES == VIDEO_STAGES + CLIP_STAGES
    with pytest.raises(ValueError, match=r"unknown stage 'polish'; stages are download, shots, "):
        r.marker("v1", "polish")


def test_listing_an_empty_or_missing_root_is_empty_and_clips_filter_by_video(tmp_path) -> None:
    r = DataRoot(tmp_path / "nothing-yet")
    assert r.video_ids() == [] and r.clip_ids() == []
    r = DataRoot(tmp_path)
    for v in ("b", "a"):
        r.video_dir(v).mkdir(parents=True)
    r.videos.joinpath("archive.txt").write_text("a\n")  # a file is not a video
    for c in ("a-000", "a-001", "ab-000", "a-xyz"):
        r.clip_dir(c).mkdir(parents=True)
        r.clip_json(c).write_text("{}")
    r.clip_dir("a-002").mkdir()  # no clip.json yet: not a clip
    assert r.video_ids() == ["a", "b"]
    assert r.clip_ids() == ["a-000", "a-001", "a-xyz", "ab-000"]
    assert r.clip_ids("a") == ["a-000", "a-001"]  # not ab-000, not a-xyz


@pytest.mark.parametrize("bad", ["../escape", "a/b", "", "x y"])
def test_unsanitised_ids_never_become_paths(tmp_path, bad: str) -> None:
    with pytest.raises(ValueError, match="not sanitised|no safe characters"):
        DataRoot(tmp_path).clip_dir(bad)
    with pytest.raises(ValueError):
        DataRoot(tmp_path).video_file(bad)


def test_data_root_is_the_argument_then_the_environment_then_data(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("YTOCC_DATA", raising=False)
    assert resolve_data_root() == tmp_path / "data"
    monkeypatch.setenv("YTOCC_DATA", str(tmp_path / "env"))
    assert resolve_data_root() == tmp_path / "env"
    assert resolve_data_root("given") == tmp_path / "given"
    assert DataRoot.at("given").root == tmp_path / "given"
    assert DataRoot.at().root == tmp_path / "env"
    assert DataRoot(tmp_path).relative(tmp_path / "clips" / "c" / "x.npz") == "clips/c/x.npz"


def test_an_empty_data_root_is_refused_naming_where_it_came_from(tmp_path, monkeypatch) -> None:
    """An empty ``--data`` or ``$YTOCC_DATA`` is one error naming it, never the current folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YTOCC_DATA", str(tmp_path / "env"))
    with pytest.raises(DataRootError) as err:
        resolve_data_root("  ")
    assert (
        str(err.value)
        == "--data is empty: give a folder, or leave --data out for $YTOCC_DATA or ./data"
    )
    monkeypatch.setenv("YTOCC_DATA", "")
    with pytest.raises(DataRootError) as err:
        resolve_data_root()
    assert str(err.value).startswith("$YTOCC_DATA is empty: ")


def test_a_folder_that_is_not_a_valid_id_is_skipped_with_one_warning_naming_it(
    tmp_path, capsys
) -> None:
    """A stray folder (unsafe characters, or none safe at all) is no video: warned about once."""
    r = DataRoot(tmp_path)
    r.video_dir("good").mkdir(parents=True)
    strays = ("my video", "%%%")
    for name in strays:
        (r.videos / name).mkdir()
    assert r.video_ids() == ["good"]
    lines = capsys.readouterr().err.splitlines()
    want = [f"warning: skipping {r.videos / n}: {n!r} is not a valid id" for n in strays]
    assert sorted(lines) == sorted(want)
    assert r.video_ids() == ["good"]
    assert capsys.readouterr().err == ""  # once per folder, not on every listing


def test_a_path_leaving_the_root_through_a_symlink_is_refused_naming_it(tmp_path) -> None:
    """The error shows the path as seen from the root (where the user looks) and its target."""
    root, outside = tmp_path.resolve() / "data", tmp_path.resolve() / "elsewhere"
    outside.mkdir()
    r = DataRoot(root)
    r.videos.mkdir(parents=True)
    (r.videos / "v").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PathEscape) as err:
        r.inside(r.videos / "v" / "video.mp4")
    assert str(err.value) == (
        f"videos/v/video.mp4 resolves outside the data root (to {outside / 'video.mp4'})"
    )
    with pytest.raises(PathEscape) as err:
        r.inside("videos/v")  # a relative path is shown as given
    assert str(err.value) == f"videos/v resolves outside the data root (to {outside})"
    assert r.inside("videos/w/x.mp4") == root / "videos" / "w" / "x.mp4"


def test_downstream_of_a_stage_is_it_and_every_stage_that_reads_it() -> None:
    assert downstream_of("clean") == ("clean", "align", "voxelize")  # segment reads frames only
    assert downstream_of("download") == ALL_STAGES
    with pytest.raises(ValueError):
        downstream_of("polish")


def test_folder_config_is_the_given_file_else_the_folders_own_else_the_defaults(tmp_path) -> None:
    """Every command on a data folder starts from what `folder_config` returns: `--config`
    when given, else the folder's config.yaml (its last build's), else the defaults; --set on top."""
    from storage.config import Config, ConfigError
    from storage.layout import folder_config

    data = tmp_path / "data"
    data.mkdir()
    cfg, used = folder_config(None, ["frames.per_clip=9"], str(data))
    assert used is None and cfg.frames.per_clip == 9  # the defaults, --set on top
    assert cfg.clean.conf_threshold == Config().clean.conf_threshold
    assert cfg.data is not None and Path(cfg.data).resolve() == data.resolve()
    saved = DataRoot(data).build_config
    saved.write_text("frames:\n  per_clip: 7\nclean:\n  conf_threshold: 2.5\n")
    cfg, used = folder_config(None, ["clean.conf_threshold=3"], str(data))
    assert used == saved and cfg.frames.per_clip == 7 and cfg.clean.conf_threshold == 3
    assert Path(cfg.data).resolve() == data.resolve()
    other = tmp_path / "other.yaml"
    other.write_text("frames:\n  per_clip: 5\n")
    cfg, used = folder_config(other, ["clean.conf_threshold=2"], str(data))
    assert used == other and cfg.frames.per_clip == 5  # the folder's own is not mixed in
    assert cfg.clean.conf_threshold == 2  # from --set, on top of the given file
    saved.write_text("frames:\n  per_clip: -1\n")
    with pytest.raises(ConfigError, match="per_clip"):
        folder_config(None, [], str(data))
