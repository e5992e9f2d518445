"""The Mask Curator core: everything that must run without a GUI.

Pure Python with numpy, SimpleITK, nibabel, pydicom, torch and MONAI. It never imports Qt, napari,
magicgui or superqt (an import-linter contract in pyproject.toml and tests/unit/test_purity.py
enforce it). Heavy libraries are imported inside the modules that need them, so importing
``curator.core`` stays cheap.
"""
