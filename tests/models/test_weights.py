"""Weights resolution: local paths work offline; a missing Hub file is one clear error."""

import shutil
import subprocess
import sys

import pytest

from models.weights import (
    WeightsNotFound,
    download_command,
    fetch_command,
    hf_command,
    resolve_dir,
    resolve_file,
    split_spec,
)
from tests.support.flaky_site import flaky_site


def test_local_files_and_folders_resolve_without_the_hub(tmp_path) -> None:
    f = tmp_path / "m.pth"
    f.write_bytes(b"x")
    assert resolve_file(f) == f
    assert resolve_file(tmp_path, "m.pth") == f
    assert resolve_dir(tmp_path) == tmp_path


def test_spec_splitting() -> None:
    assert split_spec("naver/model") == ("naver/model", None)
    assert split_spec("owner/repo/sub/file.pth") == ("owner/repo", "sub/file.pth")
    assert split_spec("owner/repo/file.pth") == ("owner/repo", "file.pth")
    assert split_spec("owner/repo", "m.pth") == ("owner/repo", "m.pth")
    # only slashes are trimmed: a real org whose name starts with X keeps its letters
    assert split_spec("Xenova/dinov2-small/onnx/model.onnx") == (
        "Xenova/dinov2-small",
        "onnx/model.onnx",
    )


def test_missing_hub_weights_name_the_id_the_file_and_how_to_fetch(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(WeightsNotFound) as e:
        resolve_file(
            "naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt", "model.safetensors", what="DUSt3R"
        )
    msg = str(e.value)
    repo = "naver/DUSt3R_ViTLarge_BaseDecoder_512_dpt"
    assert msg.startswith(f"DUSt3R: file 'model.safetensors' of Hub repo '{repo}' is not in")
    assert f"({type(e.value.__cause__).__name__});" in msg  # why the Hub could not answer
    assert f"`{fetch_command(repo, 'model.safetensors')}`" in msg  # the line to paste
    assert "hf download" in msg and "huggingface-cli" not in msg  # the installed CLI is `hf`
    with pytest.raises(WeightsNotFound, match=r"^model: local path .*nope\.d does not exist"):
        resolve_dir(tmp_path / "nope.d")


def test_a_missing_hub_folder_names_the_repo_and_the_exact_fetch_line(
    monkeypatch, tmp_path
) -> None:
    """The hint is a line to paste: `hf download REPO --include PATTERN ...` (offline here)."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(WeightsNotFound) as e:
        resolve_dir(
            "facebook/dinov2-small", what="DINOv2", allow_patterns=["*.json", "*.safetensors"]
        )
    msg = str(e.value)
    line = f"{hf_command()} download facebook/dinov2-small --include '*.json' --include '*.safetensors'"
    assert msg.startswith("DINOv2: Hub repo 'facebook/dinov2-small' is not in the local cache")
    assert f"`{line}`" in msg and "set HF_HOME" in msg
    assert f"({type(e.value.__cause__).__name__}); fetch" in msg
    assert fetch_command("o/r", "sub/f.pth") == f"{hf_command()} download o/r sub/f.pth"
    with pytest.raises(WeightsNotFound, match=r"local path .*nope does not exist"):
        resolve_dir("./nope")


def test_a_repo_id_without_a_file_is_refused_before_any_download(tmp_path) -> None:
    with pytest.raises(WeightsNotFound, match="'owner/repo' is not a file and names no file"):
        resolve_file("owner/repo", what="weights")
    assert split_spec("/owner/repo/") == ("/owner/repo/", None)


def test_download_lines_use_a_tool_this_machine_has(monkeypatch, tmp_path) -> None:
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


def test_the_download_line_without_curl_or_wget_fetches_the_file(monkeypatch, tmp_path) -> None:
    """The last resort line is run as a user would paste it, against a loopback server: it
    fetches the file into a folder that does not exist yet."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "r18.pth.tar").write_bytes(b"weights" * 100)
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    dest = tmp_path / "new" / "folder" / "r18.pth.tar"
    with flaky_site(site, {}) as (base, gets):
        line = download_command(f"{base}/r18.pth.tar", dest)
        done = subprocess.run(line, shell=True, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert dest.read_bytes() == b"weights" * 100 and gets == {"r18.pth.tar": 1}


def test_the_hf_cli_is_the_one_on_path_else_the_one_beside_python(monkeypatch, tmp_path) -> None:
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    on_path: dict[str, str] = {"hf": "/usr/local/bin/hf"}
    monkeypatch.setattr(shutil, "which", lambda tool: on_path.get(tool))
    (bin_dir / "hf").write_text("#!/bin/sh\n")
    assert hf_command() == "hf"  # on PATH: called by name
    on_path.clear()
    assert hf_command() == str(bin_dir / "hf")  # not on PATH: the one this venv installed
    (bin_dir / "hf").unlink()
    assert hf_command() == "hf"  # neither: the name, for the user's own install


def test_a_local_path_is_never_taken_for_a_hub_repo(tmp_path, monkeypatch) -> None:
    """A folder without the expected file, or a missing path spelt as a path, is named as
    such; splitting it into a Hub repo ('tmp/…') and fetching from there would mislead."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WeightsNotFound) as e:
        resolve_file(tmp_path, "absent.pth", what="DUSt3R checkpoint")
    assert str(e.value) == f"DUSt3R checkpoint: folder {tmp_path} holds no absent.pth"
    with pytest.raises(WeightsNotFound, match=r"^weights: .* is a folder, not a weights file$"):
        resolve_file(tmp_path)
    for spec in (str(tmp_path / "sub" / "x.pth"), "./sub/x.pth", "~/ytocc-no-such/x.pth"):
        with pytest.raises(WeightsNotFound, match=r"^weights: local path .*x\.pth does not exist$"):
            resolve_file(spec)
    for spec in (str(tmp_path / "absent"), "~/ytocc-no-such-folder"):
        with pytest.raises(WeightsNotFound, match=r"^model: local path .* does not exist$"):
            resolve_dir(spec)


def test_a_hub_folder_in_the_cache_resolves_offline_to_its_snapshot(tmp_path, monkeypatch):
    """What a past ``hf download`` left in the Hugging Face cache is used without the network
    (HF_HUB_OFFLINE is set for every test): the cache layout is huggingface_hub's."""
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    repo = cache / "models--owner--tiny"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    assert resolve_dir("owner/tiny", allow_patterns=["*.json"]) == snapshot
    with pytest.raises(WeightsNotFound, match="'owner/other' is not in the local cache"):
        resolve_dir("owner/other")
