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


def test_a_missing_hub_folder_names_the_repo_and_the_exact_fetch_line(
    monkeypatch, tmp_path
) -> None:
    """The hint is a line to paste: `hf download REPO --include PATTERN ...` (offline here)."""
    from models.weights import fetch_command, hf_command

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(WeightsNotFound) as e:
        resolve_dir(
            "facebook/dinov2-small", what="DINOv2", allow_patterns=["*.json", "*.safetensors"]
        )
    msg = str(e.value)
    line = f"{hf_command()} download facebook/dinov2-small --include '*.json' --include '*.safetensors'"
    assert msg.startswith("DINOv2: Hub repo 'facebook/dinov2-small' is not in the local cache")
    assert f"`{line}`" in msg and "set HF_HOME" in msg
    assert fetch_command("o/r", "sub/f.pth") == f"{hf_command()} download o/r sub/f.pth"
    with pytest.raises(WeightsNotFound, match=r"local path .*nope does not exist"):
        resolve_dir("./nope")


def test_a_repo_id_without_a_file_is_refused_before_any_download(tmp_path) -> None:
    with pytest.raises(WeightsNotFound, match="'owner/repo' is not a file and names no file"):
        resolve_file("owner/repo", what="weights")
    assert split_spec("/owner/repo/") == ("/owner/repo/", None)


def test_download_lines_use_a_tool_this_machine_has(monkeypatch, tmp_path) -> None:
    import shutil

    from models.weights import download_command

    dest = tmp_path / "w" / "r18.pth.tar"
    have = {"curl": "/usr/bin/curl", "wget": "/usr/bin/wget"}
    monkeypatch.setattr(shutil, "which", lambda tool: have.get(tool))
    assert (
        download_command("http://x/r18.pth.tar", dest)
        == f"curl -fL --create-dirs -o {dest} http://x/r18.pth.tar"
    )
    have.pop("curl")
    assert (
        download_command("http://x/a", dest)
        == f"mkdir -p {dest.parent} && wget -O {dest} http://x/a"
    )
    have.pop("wget")
    assert download_command("http://x/a", dest).endswith(
        f"r.urlretrieve(*sys.argv[1:])' http://x/a {dest}"
    )
