"""Mask-classification outputs (per-query class logits + mask logits) → NYU-11 labels and regions.

Mask2Former and SAN both predict Q query masks, each with a distribution over C classes plus
"no object". Labels follow their semantic inference (class probabilities × mask probabilities
summed over queries) after the model's classes are pooled into NYU-11 through a lookup table;
regions are the query that wins each pixel (its best class probability × its mask), kept as the
superpixels of pretraining.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from storage.formats import NUM_CLASSES


class ClassTableError(ValueError):
    """A model class with no NYU-11 entry, or a model scoring more classes than its table."""


def class_lut(names: Sequence[str], table: Mapping[str, int], what: str) -> np.ndarray:
    """uint8 (C,) NYU-11 id of each model class name (0 = none of the 11), in model order."""
    missing = [n for n in names if n.strip() not in table]
    if missing:
        raise ClassTableError(f"{what}: classes {missing[:5]} have no NYU-11 entry in the table")
    lut = np.array([table[n.strip()] for n in names], dtype=np.int64)
    if lut.size and (lut.min() < 0 or lut.max() > NUM_CLASSES):
        raise ClassTableError(f"{what}: table maps to ids outside 0..{NUM_CLASSES}")
    return lut.astype(np.uint8)


def queries_to_labels(
    class_logits: torch.Tensor,
    mask_logits: torch.Tensor,
    lut: np.ndarray,
    size: tuple[int, int],
    valid: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(B,Q,C+1) class logits and (B,Q,h,w) mask logits → labels u8 (B,H,W), regions i32 (B,H,W).

    `valid` (rows, cols) crops the masks to the un-padded part of the network input first.
    """
    b, q, c1 = class_logits.shape
    if c1 - 1 != len(lut):
        raise ClassTableError(
            f"segmenter scored {c1 - 1} classes but its NYU-11 table has {len(lut)} entries"
        )
    probs = torch.softmax(class_logits.float(), dim=-1)[..., :-1]  # drop "no object"
    index = torch.as_tensor(lut, dtype=torch.long, device=probs.device)
    nyu = probs.new_zeros(b, q, NUM_CLASSES + 1).index_add_(2, index, probs)
    if valid is not None:
        mask_logits = mask_logits[..., : valid[0], : valid[1]]
    masks = mask_logits.float().sigmoid()
    semseg = torch.einsum("bqk,bqhw->bkhw", nyu, masks)
    semseg = F.interpolate(semseg, size=size, mode="bilinear", align_corners=False)
    labels = semseg.argmax(dim=1).to(torch.uint8)
    best = probs.max(dim=-1).values  # (B,Q): how sure each query is of its class
    win = (best[:, :, None, None] * masks).argmax(dim=1, keepdim=True).float()
    regions = F.interpolate(win, size=size, mode="nearest")[:, 0].to(torch.int32)
    return labels.cpu().numpy(), regions.cpu().numpy()
