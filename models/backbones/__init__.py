"""Pretrained image backbones by name (timm), as multi-scale 2D encoders of occupancy networks.

:mod:`models.backbones.registry` names the backbones and their Hugging Face weights;
:mod:`models.backbones.multiscale` taps one feature map per stride 2, 4, 8, 16, 32.
"""
