"""Synthetic house tour: furnished box rooms, a handheld camera, ray-cast frames and exact truth."""
