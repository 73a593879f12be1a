"""Torch datasets that read occupancy datasets into one sample dict (torch imported only here).

Every loader (ours, NYUv2, OccScanNet) yields the same keys, so training code never branches:

| key | type | meaning |
|---|---|---|
| ``image`` | float32 tensor (3,H,W) in [0,1] | RGB frame (models normalise themselves) |
| ``cam_k`` | float32 (3,3) | intrinsics at the image's size |
| ``cam_pose`` | float32 (4,4) | camera-to-world, OpenCV axes, z-up world |
| ``voxel_origin`` | float32 (3,) | min corner of the grid, world metres |
| ``target`` | uint8 (60,60,36) [x,y,z] | 0 free, 1..11 classes, 255 unknown |
| ``depth`` | float32 (H,W) | metric z-depth (0 where unknown) |
| ``regions`` | int32 (H,W) | region/superpixel id per pixel, -1 where none |
| ``name`` | str | a stable sample id |
"""

SAMPLE_KEYS: tuple[str, ...] = (
    "image", "cam_k", "cam_pose", "voxel_origin", "target", "depth", "regions", "name",
)  # fmt: skip
