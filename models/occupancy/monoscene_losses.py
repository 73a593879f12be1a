"""MonoScene's training losses (Cao & de Charette, CVPR 2022, §3.3–3.4), vectorised.

- class-weighted cross-entropy over voxels whose target is not 255;
- scene-class affinity losses: per class (semantic) and occupied-vs-free (geometric), the
  binary cross-entropy towards 1 of the precision, recall and specificity computed from the
  softmax probabilities;
- the relation-prior loss: the CRP's voxel→mega-voxel logits against the 4 relations seen in
  the target at 1/4 of the output grid (same non-empty class, different non-empty classes,
  both free, one free), binary cross-entropy with per-relation positive weight neg/pos;
- the frustum proportion loss: the image split into size×size tiles, each tile's frustum of
  known voxels; KL divergence of the target's class proportions to the predicted ones,
  averaged over the non-empty frustums (counts pooled over the batch).

Label downsampling follows the SSC convention: a block is free/unknown (whichever is more
frequent) when more than 95 % of it is, else its most frequent class (ties → smaller id).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

UNKNOWN = 255


def _bce_to_one(x: torch.Tensor) -> torch.Tensor:
    """-log(x), clamped the way ``binary_cross_entropy`` clamps it (elementwise)."""
    return F.binary_cross_entropy(x, torch.ones_like(x), reduction="none")


def ce_loss(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted cross-entropy; logits (B, C, ...), target (B, ...) with 255 ignored."""
    return F.cross_entropy(logits, target.long(), weight=weights.to(logits), ignore_index=UNKNOWN)


def geo_scal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Occupied-vs-free affinity: BCE→1 of precision, recall and specificity of occupancy."""
    probs = F.softmax(logits.float(), dim=1)
    known = target != UNKNOWN
    occupied = 1.0 - probs[:, 0][known]
    truth = (target[known] != 0).float()
    hit = (truth * occupied).sum()
    precision = hit / occupied.sum()
    recall = hit / truth.sum()
    specificity = ((1 - truth) * (1 - occupied)).sum() / (1 - truth).sum()
    return _bce_to_one(torch.stack([precision, recall, specificity])).sum()


def sem_scal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-class affinity: mean over classes present in the target of BCE→1 of P, R, S."""
    n = logits.shape[1]
    known = target != UNKNOWN
    p = F.softmax(logits.float(), dim=1).movedim(1, -1)[known]  # (K, C)
    t = F.one_hot(target[known].long(), n).float()  # (K, C)
    present = t.sum(0) > 0
    hit = (p * t).sum(0)
    p_sum, t_sum, neg_sum = p.sum(0), t.sum(0), (1 - t).sum(0)
    one = torch.ones_like(hit)
    precision = torch.where(p_sum > 0, hit / torch.where(p_sum > 0, p_sum, one), one)
    recall = hit / torch.where(t_sum > 0, t_sum, one)
    spec = torch.where(
        neg_sum > 0, ((1 - p) * (1 - t)).sum(0) / torch.where(neg_sum > 0, neg_sum, one), one
    )
    per_class = _bce_to_one(precision) + _bce_to_one(recall) + _bce_to_one(spec)
    return per_class[present].sum() / present.sum().clamp_min(1)


def downsample_labels(target: torch.Tensor, factor: int, n_classes: int) -> torch.Tensor:
    """(B, X, Y, Z) labels → (B, X/f, Y/f, Z/f) by the SSC rule (95 % free/unknown, else mode)."""
    b, *dims = target.shape
    small = [d // factor for d in dims]
    t = target[:, : small[0] * factor, : small[1] * factor, : small[2] * factor].long()
    t = t.reshape(b, small[0], factor, small[1], factor, small[2], factor)
    t = t.permute(0, 1, 3, 5, 2, 4, 6).reshape(b, *small, factor**3)
    t = torch.where(t == UNKNOWN, torch.full_like(t, n_classes), t)
    counts = F.one_hot(t, n_classes + 1).sum(-2)  # (B, x, y, z, C+1), last = unknown
    free, unknown = counts[..., 0], counts[..., n_classes]
    mode = counts[..., 1:n_classes].argmax(-1) + 1
    empty = torch.where(free > unknown, 0, UNKNOWN)
    return torch.where(free + unknown > 0.95 * factor**3, empty, mode).to(torch.uint8)


def relation_targets(small: torch.Tensor, n_classes: int, n_relations: int = 4) -> torch.Tensor:
    """Voxel ↔ mega-voxel relations (B, R, N, M) of a label grid (B, X, Y, Z) (uint8 0/1).

    A mega voxel is a 2×2×2 block (blocks past an odd edge are dropped); a voxel holds relation
    r with it when some known label of the block stands in relation r to the voxel's label.
    4 relations: same non-empty, different non-empty, both free, one free; 2: different, same.
    """
    b, x, y, z = small.shape
    lab = small.long()
    blocks = lab[:, : x // 2 * 2, : y // 2 * 2, : z // 2 * 2]
    blocks = blocks.reshape(b, x // 2, 2, y // 2, 2, z // 2, 2).permute(0, 1, 3, 5, 2, 4, 6)
    blocks = blocks.reshape(b, -1, 8)  # (B, M, 8)
    blocks = torch.where(blocks == UNKNOWN, torch.full_like(blocks, n_classes), blocks)
    present = F.one_hot(blocks, n_classes + 1).amax(2)[..., :n_classes].bool()  # (B, M, C)
    r = lab.reshape(b, -1)  # (B, N)
    valid = (r != UNKNOWN)[:, :, None]
    rc = r.clamp_max(n_classes - 1)
    has_r = torch.gather(present, 2, rc[:, None, :].expand(-1, present.shape[1], -1)).transpose(
        1, 2
    )
    n_present = present.sum(-1)[:, None, :]  # (B, 1, M) labels present per block
    n_nonzero = present[..., 1:].sum(-1)[:, None, :]
    free_present = present[..., 0][:, None, :]
    r_free = (r == 0)[:, :, None]
    if n_relations == 2:
        rels = [valid & (n_present - has_r.long() > 0), valid & has_r]
    elif n_relations == 4:
        rels = [
            valid & ~r_free & has_r,
            valid & ~r_free & (n_nonzero - has_r.long() > 0),
            valid & r_free & free_present,
            valid & ((r_free & (n_nonzero > 0)) | (~r_free & free_present)),
        ]
    else:
        raise ValueError(f"n_relations must be 2 or 4, got {n_relations}")
    return torch.stack(rels, dim=1).to(torch.uint8)


def relation_loss(p_logits: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
    """BCE of relation logits (B, R, M, N) vs targets (B, R, N, M), pos weight neg/pos per r."""
    labels = relations.float()
    pos = labels.sum((0, 2, 3))
    neg = labels.numel() // labels.shape[1] - pos
    pos_weight = (neg / pos.clamp_min(1)).view(1, -1, 1, 1)
    return F.binary_cross_entropy_with_logits(
        p_logits.float().transpose(2, 3), labels, pos_weight=pos_weight
    )


def frustum_ids(
    pix: torch.Tensor, fov: torch.Tensor, image_hw: tuple[int, int], size: int
) -> torch.Tensor:
    """Tile index (row-major, size×size tiles) of each voxel's pixel (B, N); -1 outside."""
    h, w = image_hw
    col = torch.div(pix[..., 0] * size, w, rounding_mode="floor")
    row = torch.div(pix[..., 1] * size, h, rounding_mode="floor")
    return torch.where(fov, row * size + col, torch.full_like(col, -1))


def frustum_proportion_loss(
    logits: torch.Tensor, target: torch.Tensor, ids: torch.Tensor, size: int
) -> torch.Tensor:
    """Mean over non-empty frustums of KL(target class proportions ‖ predicted proportions).

    logits (B, C, N) and target (B, N) flattened in the same voxel order as ids (B, N).
    """
    c = logits.shape[1]
    keep = (ids >= 0) & (target != UNKNOWN)
    slot = torch.where(keep, ids, torch.full_like(ids, size * size))  # dump slot for the rest
    probs = F.softmax(logits.float(), dim=1).transpose(1, 2).reshape(-1, c)  # (B*N, C)
    flat = slot.reshape(-1)
    pred = probs.new_zeros(size * size + 1, c).index_add_(0, flat, probs)[:-1]
    tgt = target.reshape(-1).long().clamp_max(c - 1)
    counts = torch.zeros(size * size + 1, c, device=logits.device)
    counts.index_put_((flat, tgt), torch.ones_like(flat, dtype=counts.dtype), accumulate=True)
    counts = counts[:-1]
    total_t, total_p = counts.sum(1, keepdim=True), pred.sum(1, keepdim=True)
    used = (total_t[:, 0] > 0) & (total_p[:, 0] > 0)
    if not used.any():
        return logits.sum() * 0.0
    q = (counts / total_t.clamp_min(1))[used]
    p = (pred / total_p.clamp_min(1e-12))[used]
    nz = q > 0
    kl = torch.where(
        nz, q * (torch.log(torch.where(nz, q, 1.0)) - torch.log(p.clamp_min(1e-12))), 0.0
    )
    return kl.sum() / used.sum()
