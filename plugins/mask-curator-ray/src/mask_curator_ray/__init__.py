"""Mask Curator on Ray: ``curator batch ... --executor ray`` (see :mod:`mask_curator_ray.executor`)."""

__version__ = "0.1.0"
