"""MonoScene's losses against plain per-class / per-voxel loops written from the paper's
definitions, plus the cases that pin their meaning (perfect prediction → ~0)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from models.occupancy import monoscene_losses as L

C = 12


def _bce1(x: float) -> float:
    return -max(math.log(x), -100.0) if x > 0 else 100.0


def _data(seed: int, shape=(2, 6, 4, 5)):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, C, shape, generator=g)
    target[torch.rand(shape, generator=g) < 0.2] = 255
    logits = torch.randn(shape[0], C, *shape[1:], generator=g)
    return logits, target


def test_semantic_affinity_matches_a_per_class_loop():
    logits, target = _data(0)
    p = torch.softmax(logits, 1).movedim(1, -1)[target != 255].double().numpy()
    t = target[target != 255].numpy()
    total, count = 0.0, 0
    for c in range(C):
        pc, tc = p[:, c], (t == c).astype(float)
        if tc.sum() == 0:
            continue
        count += 1
        hit = (pc * tc).sum()
        total += _bce1(hit / pc.sum()) + _bce1(hit / tc.sum())
        total += _bce1(((1 - pc) * (1 - tc)).sum() / (1 - tc).sum())
    assert L.sem_scal_loss(logits, target).item() == pytest.approx(total / count, rel=1e-4)


def test_geometric_affinity_matches_its_definition_and_vanishes_when_perfect():
    logits, target = _data(1)
    known = target != 255
    occ = 1 - torch.softmax(logits, 1)[:, 0][known].double()
    truth = (target[known] != 0).double()
    hit = (occ * truth).sum()
    want = sum(_bce1(float(x)) for x in (hit / occ.sum(), hit / truth.sum(),
               ((1 - truth) * (1 - occ)).sum() / (1 - truth).sum()))  # fmt: skip
    assert L.geo_scal_loss(logits, target).item() == pytest.approx(want, rel=1e-4)
    perfect = torch.nn.functional.one_hot(target.clamp_max(C - 1), C).movedim(-1, 1) * 50.0
    assert L.geo_scal_loss(perfect, target).item() < 1e-3
    assert L.sem_scal_loss(perfect, target).item() < 1e-3


def test_label_downsampling_follows_the_ssc_rule():
    t = torch.zeros(1, 4, 4, 4, dtype=torch.long)  # one 4³ block
    assert L.downsample_labels(t, 4, C).item() == 0
    t[0, 0, 0, :3] = 255
    t[0, 1, 1, :2] = 255  # 5 unknown, 59 free: >95 % empty-or-unknown, free wins
    assert L.downsample_labels(t, 4, C).item() == 0
    t[0, :2] = 255  # 32 unknown, 32 free: ties go to unknown
    assert L.downsample_labels(t, 4, C).item() == 255
    t[0, 2, :, :] = 5
    t[0, 3, 0, :] = 3  # 16 of class 5, 4 of class 3 → mode 5
    assert L.downsample_labels(t, 4, C).item() == 5
    t[0, 2, 2:, :] = 3  # 8 and 12 → 3
    assert L.downsample_labels(t, 4, C).item() == 3


def test_relation_targets_match_a_loop_over_voxels_and_blocks():
    g = torch.Generator().manual_seed(3)
    small = torch.randint(0, 4, (1, 5, 4, 4), generator=g)
    small[torch.rand(small.shape, generator=g) < 0.15] = 255
    got = L.relation_targets(small.to(torch.uint8), C, 4)[0].numpy()
    lab = small[0].numpy()
    flat = lab.reshape(-1)
    blocks = list(itertools.product(range(2), range(2), range(2)))
    want = np.zeros((4, flat.size, len(blocks)), np.uint8)
    for m, (bx, by, bz) in enumerate(blocks):
        block = lab[2 * bx : 2 * bx + 2, 2 * by : 2 * by + 2, 2 * bz : 2 * bz + 2].reshape(-1)
        for n, r in enumerate(flat):
            for b in block:
                if r == 255 or b == 255:
                    continue
                if r == b and r != 0:
                    want[0, n, m] = 1
                if r != b and r != 0 and b != 0:
                    want[1, n, m] = 1
                if r == b == 0:
                    want[2, n, m] = 1
                if r != b and (r == 0 or b == 0):
                    want[3, n, m] = 1
    np.testing.assert_array_equal(got, want)


def test_relation_loss_weighs_positives_by_their_rarity():
    rel = torch.zeros(1, 2, 3, 2, dtype=torch.uint8)
    rel[0, 0, 0, 0] = 1  # relation 0: 1 positive of 6 → weight 5; relation 1: none → weight 6
    logits = torch.zeros(1, 2, 2, 3)
    sp = math.log(2.0)  # BCE of logit 0 either way
    want = (5 * sp + 5 * sp + 6 * sp) / 12
    assert L.relation_loss(logits, rel).item() == pytest.approx(want, rel=1e-5)


def test_frustum_proportion_loss_is_the_mean_kl_over_nonempty_frustums():
    g = torch.Generator().manual_seed(4)
    b, n, size = 2, 40, 2
    logits = torch.randn(b, C, n, generator=g)
    target = torch.randint(0, 4, (b, n), generator=g)
    target[:, :5] = 255
    ids = torch.randint(-1, size * size, (b, n), generator=g)
    ids[:, 10:20] = 3  # frustum 3 well populated
    ids[ids == 2] = 1  # frustum 2 empty: left out of the mean
    probs = torch.softmax(logits, 1).double()
    kls = []
    for f in range(size * size):
        sel = (ids == f) & (target != 255)
        if not sel.any():
            continue
        counts = torch.bincount(target[sel], minlength=C).double()
        q = counts / counts.sum()
        p = probs.permute(0, 2, 1)[sel].sum(0)
        p = p / p.sum()
        kls.append(sum(float(q[c] * (q[c].log() - p[c].log())) for c in range(C) if q[c] > 0))
    got = L.frustum_proportion_loss(logits, target, ids, size).item()
    assert got == pytest.approx(sum(kls) / len(kls), rel=1e-4)
    # a prediction with the target's proportions in every frustum costs nothing
    one = torch.full_like(logits, -30.0)
    one.scatter_(1, target.clamp_max(C - 1)[:, None], 30.0)
    assert L.frustum_proportion_loss(one, target, ids, size).item() < 1e-6
