"""Mask Curator: find and fix wrong segmentation masks in medical imaging datasets.

The package is split into a pure core (``curator.core``: data, models, uncertainty, curation,
never Qt or napari) and thin front ends: the ``curator`` command (``curator.cli``) and the
napari/Qt desktop app and plugin (``curator.gui``). Importing this package imports neither Qt nor
torch.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
