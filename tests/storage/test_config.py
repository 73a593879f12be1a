"""One typed config: YAML file, then CLI overrides; unknown keys are errors."""

import pytest

from storage.config import ConfigError, dump_config, load_config


def test_file_then_overrides_then_data(tmp_path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("reconstruct:\n  dust3r:\n    niter: 50\nframes:\n  per_clip: 10\n")
    cfg = load_config(f, ["frames.per_clip=12", "reconstruct.backend=synthetic-gt"], tmp_path / "d")
    assert cfg.reconstruct.dust3r.niter == 50
    assert cfg.frames.per_clip == 12
    assert cfg.reconstruct.backend == "synthetic-gt"
    assert cfg.data == tmp_path / "d"


@pytest.mark.parametrize(
    "override", ["frames.per_clipp=3", "reconstruct.backend=nerf", "frames.per_clip=many", "oops"]
)
def test_bad_keys_and_values_are_clear_errors(override: str) -> None:
    with pytest.raises(ConfigError):
        load_config(None, [override])


def test_dumped_config_loads_back_identically(tmp_path) -> None:
    cfg = load_config(None, ["clean.stat_neighbors=7"])
    f = tmp_path / "dump.yaml"
    f.write_text(dump_config(cfg))
    assert load_config(f) == cfg


@pytest.mark.parametrize(
    "override, key",
    [
        ("frames.per_clip=1", "frames.per_clip"),
        ("frames.per_clip=0", "frames.per_clip"),
        ("voxelize.voxel_size=0", "voxelize.voxel_size"),
        ("voxelize.dims=[40,40,0]", "voxelize.dims"),
        ("run.max_workers=0", "run.max_workers"),
        ("run.gpu_slots=-5", "run.gpu_slots"),
        ("clean.min_points=0", "clean.min_points"),
        ("reconstruct.dust3r.niter=0", "reconstruct.dust3r.niter"),
        ("indoor.clip_outdoor_share=1.5", "indoor.clip_outdoor_share"),
        ("train.epochs=0", "train.epochs"),
    ],
)
def test_out_of_bounds_numbers_are_one_line_errors_naming_the_key(override, key) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert str(e.value).startswith(f"{key}") and "\n" not in str(e.value)


def test_a_stage_key_holds_only_the_chosen_backends_parameters() -> None:
    dust3r = load_config(None, [])
    other_knob = load_config(None, ["reconstruct.synthetic_gt.depth_noise=0.3"])
    assert dust3r.reconstruct.key_params() == other_knob.reconstruct.key_params()
    own_knob = load_config(None, ["reconstruct.dust3r.niter=10"])
    assert own_knob.reconstruct.key_params() != dust3r.reconstruct.key_params()
    runtime = load_config(
        None, ["reconstruct.dust3r.device=cpu", "segment.mask2former_ade.threads=1"]
    )
    assert runtime.reconstruct.key_params() == dust3r.reconstruct.key_params()
    assert runtime.segment.key_params() == dust3r.segment.key_params()


def test_every_backend_name_has_its_subsection() -> None:
    cfg = load_config()
    for section in (cfg.indoor, cfg.reconstruct, cfg.segment):
        for backend in section.backends():
            section.backend = backend  # validated on assignment
            assert section.backend_params() is getattr(section, section.subsection_name(backend))
