"""One typed config: YAML file, then CLI overrides; unknown keys are errors."""

import pytest

from storage.config import ConfigError, dump_config, load_config


def test_file_then_overrides_then_data(tmp_path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("reconstruct:\n  niter: 50\nframes:\n  per_clip: 10\n")
    cfg = load_config(f, ["frames.per_clip=12", "reconstruct.backend=synthetic-gt"], tmp_path / "d")
    assert cfg.reconstruct.niter == 50
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
