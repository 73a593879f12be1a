"""SAN (Side Adapter Network) adapter: open-vocabulary segmentation prompted with NYU-11 synonyms.

SAN is not on PyPI: it needs detectron2 and the SAN repository (``san`` importable, its
``configs/`` beside it) plus open_clip, which fetches OpenAI CLIP when the model is built.
Weights: a local ``.pth`` or a Hub spec; the public ones are ``Mendel192/san`` files
``san_vit_b_16.pth`` (default) and ``san_vit_large_14.pth``.

Vocabulary: every NYU-11 class is prompted through several names (``NYU11_SYNONYMS``); a pixel
won by any synonym takes that class. Like SAN's demo predictor, the vocabulary is padded with
the 171 COCO-Stuff names so that scenery has somewhere to go instead of being forced into one of
the 11 classes. Decision for the padding: a COCO-Stuff name that means one of our classes maps
to it (``COCO_STUFF_TO_NYU11``: "wall-brick" → wall, "couch" → sofa, "tv" → tvs ...); all the
others (sky, tree, road, animals, vehicles ...) map to 0, none of the 11 classes, so those
pixels carry no label downstream. Region masks are SAN's query masks (100 per image), taken from
the same tensors its forward computes before it reduces them to a semantic map.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from models.device import pick_device
from models.segmenters.queries import class_lut, queries_to_labels
from models.weights import resolve_file

DEFAULT_WEIGHTS = "Mendel192/san/san_vit_b_16.pth"
INSTALL_HINT = (
    "the SAN backend needs detectron2 and SAN: "
    "`pip install 'git+https://github.com/facebookresearch/detectron2.git' open_clip_torch "
    "&& git clone https://github.com/MendelXu/SAN && pip install -r SAN/requirements.txt "
    "&& export PYTHONPATH=$PWD/SAN:$PYTHONPATH`; or use segment.backend=mask2former-ade"
)
SHORT_SIDE = 640  # SAN's demo resizes the short side to 640 px

NYU11_SYNONYMS: dict[int, tuple[str, ...]] = {
    1: ("ceiling",),
    2: ("floor", "carpet", "rug"),
    3: ("wall", "door", "column"),
    4: ("window", "curtain", "blinds"),
    5: ("chair", "armchair", "stool"),
    6: ("bed",),
    7: ("sofa", "couch"),
    8: ("table", "desk", "coffee table"),
    9: ("television", "monitor", "tv screen"),
    10: ("cabinet", "shelf", "dresser", "wardrobe", "counter", "bookcase", "refrigerator",
         "sink", "bathtub", "toilet", "nightstand"),
    11: ("lamp", "pillow", "picture", "box", "book", "plant", "vase", "bottle", "clothes",
         "towel", "mirror", "small object"),
}  # fmt: skip
"""NYU-11 id → the names SAN is prompted with for it ("tvs" → "television", "monitor" ...)."""

COCO_STUFF_TO_NYU11: dict[str, int] = {
    "person": 11, "bench": 5, "chair": 5, "couch": 7, "potted plant": 11, "bed": 6,
    "dining table": 8, "toilet": 10, "tv": 9, "laptop": 11, "mouse": 11, "remote": 11,
    "keyboard": 11, "cell phone": 11, "microwave": 11, "oven": 10, "toaster": 11, "sink": 10,
    "refrigerator": 10, "book": 11, "clock": 11, "vase": 11, "scissors": 11, "teddy bear": 11,
    "hair drier": 11, "toothbrush": 11, "bottle": 11, "wine glass": 11, "cup": 11, "fork": 11,
    "knife": 11, "spoon": 11, "bowl": 11, "backpack": 11, "umbrella": 11, "handbag": 11,
    "suitcase": 11, "banner": 11, "blanket": 11, "cabinet": 10, "cardboard": 11, "carpet": 2,
    "ceiling-other": 1, "ceiling-tile": 1, "cloth": 11, "clothes": 11, "counter": 10,
    "cupboard": 10, "curtain": 4, "desk-stuff": 8, "door-stuff": 3, "floor-marble": 2,
    "floor-other": 2, "floor-stone": 2, "floor-tile": 2, "floor-wood": 2, "flower": 11,
    "food-other": 11, "fruit": 11, "furniture-other": 10, "light": 11, "mat": 2,
    "mirror-stuff": 11, "napkin": 11, "paper": 11, "pillow": 11, "plant-other": 11,
    "railing": 11, "rug": 2, "shelf": 10, "stairs": 11, "table": 8, "textile-other": 11,
    "towel": 11, "wall-brick": 3, "wall-concrete": 3, "wall-other": 3, "wall-panel": 3,
    "wall-stone": 3, "wall-tile": 3, "wall-wood": 3, "window-blind": 4, "window-other": 4,
}  # fmt: skip
"""COCO-Stuff padding names that mean an NYU-11 class; every other padding name maps to 0."""


class SanNotInstalled(ImportError):
    """detectron2 or SAN is missing: the message says how to install them."""


def vocabulary(padding: list[str] | tuple[str, ...] = ()) -> tuple[list[str], np.ndarray]:
    """The prompt names (synonyms, then padding names not already in) and their NYU-11 ids."""
    names = [n for cid in sorted(NYU11_SYNONYMS) for n in NYU11_SYNONYMS[cid]]
    table = {n: cid for cid, syns in NYU11_SYNONYMS.items() for n in syns}
    extra = [p for p in dict.fromkeys(padding) if p not in table]
    table |= {p: COCO_STUFF_TO_NYU11.get(p, 0) for p in extra}
    names += extra
    return names, class_lut(names, table, "SAN vocabulary")


def _import_san() -> tuple[Any, ...]:
    """detectron2 and SAN entry points, or :class:`SanNotInstalled` with the install line."""
    try:
        import san
        from detectron2.checkpoint import DetectionCheckpointer
        from detectron2.config import get_cfg
        from detectron2.engine import DefaultTrainer
        from detectron2.projects.deeplab import add_deeplab_config
        from detectron2.structures import ImageList
        from san.data.datasets.register_coco_stuff_164k import COCO_CATEGORIES
    except ImportError as e:
        raise SanNotInstalled(f"{INSTALL_HINT} (missing: {e.name})") from e
    return (DetectionCheckpointer, get_cfg, DefaultTrainer, add_deeplab_config, ImageList, san,
            COCO_CATEGORIES)  # fmt: skip


def config_file(san_module: Any, weights_file: Path) -> Path:
    """The SAN repo config matching a checkpoint name (ViT-L/14 or ViT-B/16)."""
    name = "san_clip_vit_large_res4_coco.yaml" if "large" in weights_file.name else (
        "san_clip_vit_res4_coco.yaml")  # fmt: skip
    path = Path(san_module.__file__).resolve().parents[1] / "configs" / name
    if not path.is_file():
        raise SanNotInstalled(f"SAN config {path} not found: run from a SAN clone; {INSTALL_HINT}")
    return path


@dataclass
class SanSegmenter:
    """SAN prompted with the NYU-11 vocabulary (+ COCO-Stuff padding)."""

    model: Any
    image_list: Any
    names: list[str]
    lut: np.ndarray
    weights: str
    backend: str = "san"

    @classmethod
    def load(cls, weights: str = DEFAULT_WEIGHTS, device: str = "auto") -> SanSegmenter:
        """Build SAN from its repo config and load `weights` (path or Hub spec)."""
        ckpt_cls, get_cfg, trainer, add_deeplab_config, image_list, san, coco = _import_san()
        path = resolve_file(weights, "san_vit_b_16.pth", what="SAN checkpoint")
        cfg = get_cfg()
        add_deeplab_config(cfg)
        san.add_san_config(cfg)
        cfg.merge_from_file(str(config_file(san, path)))
        cfg.MODEL.DEVICE = str(pick_device(device))
        cfg.freeze()
        model = trainer.build_model(cfg)
        ckpt_cls(model).load(str(path))
        names, lut = vocabulary([c["name"] for c in coco])
        return cls(model.eval(), image_list, names, lut, str(weights))

    def _query_outputs(
        self, images: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
        """SAN's forward up to its per-query class logits and mask logits (before sem_seg)."""
        m = self.model
        x = (
            torch.from_numpy(np.require(images, requirements=["C", "W"]))
            .permute(0, 3, 1, 2)
            .float()
        )
        h, w = x.shape[-2:]
        scale = SHORT_SIDE / min(h, w)
        size = (round(h * scale), round(w * scale))
        x = F.interpolate(x.to(m.device), size=size, mode="bilinear", align_corners=False)
        x = (x - m.pixel_mean) / m.pixel_std
        batch = self.image_list.from_tensors(list(x), m.size_divisibility)
        classifier = m.ov_classifier.logit_scale.exp() * (
            m.ov_classifier.get_classifier_by_vocabulary(self.names)
        )
        clip_input = batch.tensor
        if m.asymetric_input:
            clip_input = F.interpolate(clip_input, scale_factor=m.clip_resolution, mode="bilinear")
        features = m.clip_visual_extractor(clip_input)
        mask_preds, attn_biases = m.side_adapter_network(batch.tensor, features)
        embeddings = m.clip_rec_head(features, attn_biases[-1], normalize=True)
        class_logits = torch.einsum("bqc,nc->bqn", embeddings, classifier)
        masks = mask_preds[-1]
        pad_h, pad_w = batch.tensor.shape[-2:]
        valid = (round(size[0] * masks.shape[-2] / pad_h), round(size[1] * masks.shape[-1] / pad_w))
        return class_logits, masks, valid

    def segment(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (B,H,W,3) RGB → (labels uint8 (B,H,W) NYU-11, regions int32 (B,H,W))."""
        with torch.no_grad():
            class_logits, masks, valid = self._query_outputs(images)
        return queries_to_labels(class_logits, masks, self.lut, images.shape[1:3], valid)
