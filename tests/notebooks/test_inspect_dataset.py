"""notebooks/inspect_dataset.ipynb runs on a tiny frozen dataset and shows counts, the class
histogram and a frame beside its grid."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from storage.config import Config
from tasks.dataset import freeze
from tests.support.tiny_dataset import build_root

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "inspect_dataset.ipynb"


def _outputs(nb, kind: str) -> list:
    return [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == kind
    ]


def test_inspect_dataset_notebook_executes(root, monkeypatch):
    build_root(root)
    path = freeze(root, Config(), "demo").path
    monkeypatch.setenv("YTOCC_DATASET", str(path))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()
    text = "".join(o.get("text", "") for o in _outputs(nb, "stream"))
    assert f"at {path}" in text
    assert "videos in both splits: 0" in text
    assert "total" in text and "8" in text
    assert "synthetic-gt" in text
    assert "target (60, 60, 36) torch.uint8" in text
    pngs = [o for o in _outputs(nb, "display_data") if "image/png" in o.data]
    assert len(pngs) >= 3  # the histogram and two frame-beside-grid pictures
