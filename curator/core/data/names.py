"""Which file and folder names mean a mask and which an image (``masks/``, ``x_seg.png``)."""

from __future__ import annotations

import re

MASK_WORDS = ("mask", "masks", "label", "labels", "seg", "segs", "segmentation", "segmentations", "gt",
              "groundtruth", "ground_truth", "truth", "annotation", "annotations", "lesion", "labelstr",
              "target", "targets")
IMAGE_WORDS = ("image", "images", "img", "imgs", "input", "inputs", "imagestr", "data", "scan", "scans",
               "volume", "volumes", "photo", "photos")
MASK_SUFFIXES = ("_segmentation", "_seg", "_mask", "_label", "_labels", "_gt", "_lesion", "-seg", "-mask",
                 "-label", "_annotation")


def name_words(name: str) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", name.lower())) | {name.lower()}


def is_mask_dir(name: str) -> bool:
    return bool(name_words(name) & set(MASK_WORDS))


def is_image_dir(name: str) -> bool:
    return bool(name_words(name) & set(IMAGE_WORDS)) and not is_mask_dir(name)


def name_says_mask(name: str) -> bool:
    """A file name that says it holds a mask: one of its words is a mask word (``liver_seg.nii.gz``,
    ``labels.nrrd``) or its stem ends like a mask's (``x_mask.png``)."""
    stem = name.lower().split(".")[0]
    return is_mask_dir(name) or stem.endswith(MASK_SUFFIXES)
