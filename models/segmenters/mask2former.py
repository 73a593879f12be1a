"""The installable default segmenter: an ADE20K Mask2Former from transformers, mapped to NYU-11.

Default weights ``facebook/mask2former-swin-tiny-ade-semantic`` (any ADE20K-150 Mask2Former
folder or Hub id works). ``ADE20K_TO_NYU11`` maps the 150 ADE20K class names to NYU-11 ids
following the SSC convention for NYU-40 (doors and columns → wall, blinds and curtains →
window, cabinets, shelves, counters and appliances → furniture, rugs → floor, small things →
objects); outdoor stuff (sky, trees, roads, vehicles...) maps to 0, none of the 11 classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from models.device import pick_device
from models.segmenters.queries import class_lut, queries_to_labels
from models.weights import resolve_dir

DEFAULT_WEIGHTS = "facebook/mask2former-swin-tiny-ade-semantic"

_CEILING, _FLOOR, _WALL, _WINDOW, _CHAIR, _BED = 1, 2, 3, 4, 5, 6
_SOFA, _TABLE, _TVS, _FURNITURE, _OBJECTS = 7, 8, 9, 10, 11

ADE20K_TO_NYU11: dict[str, int] = {
    "wall": _WALL, "building": 0, "sky": 0, "floor": _FLOOR, "tree": 0,
    "ceiling": _CEILING, "road": 0, "bed": _BED, "windowpane": _WINDOW, "grass": 0,
    "cabinet": _FURNITURE, "sidewalk": 0, "person": _OBJECTS, "earth": 0, "door": _WALL,
    "table": _TABLE, "mountain": 0, "plant": _OBJECTS, "curtain": _WINDOW, "chair": _CHAIR,
    "car": 0, "water": 0, "painting": _OBJECTS, "sofa": _SOFA, "shelf": _FURNITURE,
    "house": 0, "sea": 0, "mirror": _OBJECTS, "rug": _FLOOR, "field": 0,
    "armchair": _CHAIR, "seat": _CHAIR, "fence": 0, "desk": _TABLE, "rock": 0,
    "wardrobe": _FURNITURE, "lamp": _OBJECTS, "bathtub": _FURNITURE, "railing": _OBJECTS,
    "cushion": _OBJECTS, "base": _OBJECTS, "box": _OBJECTS, "column": _WALL,
    "signboard": _OBJECTS, "chest of drawers": _FURNITURE, "counter": _FURNITURE, "sand": 0,
    "sink": _FURNITURE, "skyscraper": 0, "fireplace": _FURNITURE, "refrigerator": _FURNITURE,
    "grandstand": 0, "path": 0, "stairs": _OBJECTS, "runway": 0, "case": _FURNITURE,
    "pool table": _TABLE, "pillow": _OBJECTS, "screen door": _WALL, "stairway": _OBJECTS,
    "river": 0, "bridge": 0, "bookcase": _FURNITURE, "blind": _WINDOW, "coffee table": _TABLE,
    "toilet": _FURNITURE, "flower": _OBJECTS, "book": _OBJECTS, "hill": 0, "bench": _CHAIR,
    "countertop": _FURNITURE, "stove": _FURNITURE, "palm": 0, "kitchen island": _FURNITURE,
    "computer": _OBJECTS, "swivel chair": _CHAIR, "boat": 0, "bar": _FURNITURE,
    "arcade machine": _FURNITURE, "hovel": 0, "bus": 0, "towel": _OBJECTS, "light": _OBJECTS,
    "truck": 0, "tower": 0, "chandelier": _OBJECTS, "awning": 0, "streetlight": 0,
    "booth": _FURNITURE, "television receiver": _TVS, "airplane": 0, "dirt track": 0,
    "apparel": _OBJECTS, "pole": _OBJECTS, "land": 0, "bannister": _OBJECTS, "escalator": 0,
    "ottoman": _FURNITURE, "bottle": _OBJECTS, "buffet": _FURNITURE, "poster": _OBJECTS,
    "stage": 0, "van": 0, "ship": 0, "fountain": 0, "conveyer belt": 0, "canopy": 0,
    "washer": _FURNITURE, "plaything": _OBJECTS, "swimming pool": 0, "stool": _CHAIR,
    "barrel": _OBJECTS, "basket": _OBJECTS, "waterfall": 0, "tent": 0, "bag": _OBJECTS,
    "minibike": 0, "cradle": _BED, "oven": _FURNITURE, "ball": _OBJECTS, "food": _OBJECTS,
    "step": _OBJECTS, "tank": 0, "trade name": _OBJECTS, "microwave": _OBJECTS,
    "pot": _OBJECTS, "animal": 0, "bicycle": _OBJECTS, "lake": 0, "dishwasher": _FURNITURE,
    "screen": _TVS, "blanket": _OBJECTS, "sculpture": _OBJECTS, "hood": _FURNITURE,
    "sconce": _OBJECTS, "vase": _OBJECTS, "traffic light": 0, "tray": _OBJECTS,
    "ashcan": _OBJECTS, "fan": _OBJECTS, "pier": 0, "crt screen": _TVS, "plate": _OBJECTS,
    "monitor": _TVS, "bulletin board": _OBJECTS, "shower": _FURNITURE, "radiator": _FURNITURE,
    "glass": _OBJECTS, "clock": _OBJECTS, "flag": _OBJECTS,
}  # fmt: skip
"""ADE20K-150 class name (as in the checkpoints' ``id2label``) → NYU-11 id; 0 = none."""


@dataclass
class Mask2FormerSegmenter:
    """A transformers Mask2Former for ADE20K semantic segmentation, answering in NYU-11."""

    model: Any
    processor: Any
    lut: np.ndarray
    weights: str
    backend: str = "mask2former-ade"

    @classmethod
    def load(cls, weights: str = DEFAULT_WEIGHTS, device: str = "auto") -> Mask2FormerSegmenter:
        """Load model and image processor from a local folder or Hub id; map its classes."""
        from transformers import AutoImageProcessor, Mask2FormerForUniversalSegmentation

        folder = resolve_dir(weights, what="Mask2Former ADE20K segmenter")
        model = Mask2FormerForUniversalSegmentation.from_pretrained(folder).eval()
        processor = AutoImageProcessor.from_pretrained(folder)
        id2label = model.config.id2label
        names = [id2label[i] for i in range(len(id2label))]
        lut = class_lut(names, ADE20K_TO_NYU11, f"Mask2Former {weights}")
        return cls(model.to(pick_device(device)), processor, lut, str(weights))

    def segment(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (B,H,W,3) RGB → (labels uint8 (B,H,W) NYU-11, regions int32 (B,H,W))."""
        device = next(self.model.parameters()).device
        inputs = self.processor(images=list(images), return_tensors="pt")
        pixel_mask = inputs["pixel_mask"]
        with torch.no_grad():
            out = self.model(
                pixel_values=inputs["pixel_values"].to(device), pixel_mask=pixel_mask.to(device)
            )
        # masks come at 1/4 of the padded input: keep the part that covers the image
        h_pad, w_pad = pixel_mask.shape[-2:]
        h_m, w_m = out.masks_queries_logits.shape[-2:]
        rows = int(pixel_mask[0].any(dim=1).sum())
        cols = int(pixel_mask[0].any(dim=0).sum())
        valid = (max(1, round(rows * h_m / h_pad)), max(1, round(cols * w_m / w_pad)))
        return queries_to_labels(
            out.class_queries_logits, out.masks_queries_logits, self.lut, images.shape[1:3], valid
        )
