"""Backends behind protocols: each registry builds every backend it names, from the config alone,
and `required_weights` lists what the chosen backends would load (a missing file is found
without loading any network)."""

import pytest

from models.backends import backend_for, registry_of, required_weights
from models.weights import WeightsNotFound
from storage.config import load_config
from storage.stages import GRAPH


@pytest.mark.parametrize("stage", [s.name for s in GRAPH.values() if s.registry])
def test_every_configured_backend_is_registered_and_built_from_the_config(stage) -> None:
    cfg = load_config()
    section = cfg.section(GRAPH[stage].section)
    assert set(registry_of(stage).names()) == set(section.backends())
    for name in section.backends():
        section.backend = name
        backend = backend_for(stage, cfg)
        assert backend.name == name
        assert isinstance(type(backend).required_weights(cfg), list)


def test_required_weights_name_the_chosen_backends_only(tmp_path) -> None:
    cfg = load_config(overrides=[f"reconstruct.dust3r.weights={tmp_path}/absent.pth",
                                 f"segment.mask2former_ade.weights={tmp_path}/m2f",
                                 f"indoor.places365.weights={tmp_path}/p365"])  # fmt: skip
    specs = required_weights(cfg)
    assert {(w.stage, w.backend) for w in specs} == {
        ("indoor", "places365"),
        ("reconstruct", "dust3r"),
        ("segment", "mask2former-ade"),
    }
    for w in specs:
        with pytest.raises(WeightsNotFound):
            w.locate()
    (tmp_path / "absent.pth").write_bytes(b"x")
    dust3r = next(w for w in required_weights(cfg) if w.stage == "reconstruct")
    assert dust3r.locate() == tmp_path / "absent.pth"
    synthetic = [f"{s}.backend=synthetic-gt" for s in ("indoor", "reconstruct", "segment")]
    assert required_weights(load_config(overrides=synthetic)) == []


def test_an_unknown_backend_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: dust3r, colmap, synthetic-gt"):
        registry_of("reconstruct").get("nerf")
