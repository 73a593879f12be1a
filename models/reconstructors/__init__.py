"""Reconstructor backends of the ``reconstruct`` stage (protocol: :class:`models.backends.Reconstructor`).

A new backend: one module here with a class built from the config, plus one line below.
"""

from models.backends import Registry

RECONSTRUCTORS = Registry(
    "reconstructor",
    {
        "dust3r": "models.reconstructors.dust3r:Dust3rReconstructor",
        "colmap": "models.reconstructors.colmap:ColmapReconstructor",
        "synthetic-gt": "models.reconstructors.synthetic:SyntheticReconstructor",
    },
)
