"""Weights resolution: local paths work offline; a missing Hub file is one clear error."""

import pytest

from models.weights import WeightsNotFound, resolve_dir, resolve_file, split_spec


def test_local_files_and_folders_resolve_without_the_hub(tmp_path) -> None:
    f = tmp_path / "m.pth"
    f.write_bytes(b"x")
    assert resolve_file(f) == f
    assert resolve_file(tmp_path, "m.pth") == f
    assert resolve_dir(tmp_path) == tmp_path


def test_spec_splitting() -> None:
    assert split_spec("naver/model") == ("naver/model", None)
    assert split_spec("owner/repo/sub/file.pth") == ("owner/repo", "sub/file.pth")


def test_missing_hub_weights_name_the_id_the_file_and_how_to_fetch(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(WeightsNotFound) as e:
        resolve_file(
            "naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt", "model.safetensors", what="DUSt3R"
        )
    msg = str(e.value)
    assert "naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt" in msg and "model.safetensors" in msg
    assert "hf download" in msg and "huggingface-cli" not in msg  # the installed CLI is `hf`
    with pytest.raises(WeightsNotFound, match="does not exist"):
        resolve_dir(tmp_path / "nope.d")
