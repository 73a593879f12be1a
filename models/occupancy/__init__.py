"""Occupancy networks behind one interface, chosen by name (see :mod:`models.occupancy.registry`).

``features(image, cam_k, cam_pose, voxel_origin) → (B, D, 60, 60, 36)`` and
``forward(...) → (B, 12, 60, 60, 36)`` logits (free + 11 classes) through ``head``.
"""
