"""The Medical Segmentation Decathlon / nnU-Net layout: ``imagesTr/``, ``labelsTr/``, ``dataset.json``."""

from __future__ import annotations

import json
import re
from pathlib import Path

from curator.core.data.cases import Case, Dataset, Problem, rel_path
from curator.core.data.layouts.pairs import match_stems
from curator.core.data.scan import file_stem, is_dir, is_image_file, list_folder, ndim_of, path_inside


def discover_msd(root: Path) -> Dataset | None:
    img_dir, lab_dir = root / "imagesTr", root / "labelsTr"
    if not is_dir(img_dir) or not is_dir(lab_dir):
        return None
    problems: list[Problem] = []
    meta: dict = {}
    label_names: dict[int, str] = {}
    declared = None
    spec_path = root / "dataset.json"
    pairs: list[tuple[Path, Path | None]] = []
    refused: dict[int, str] = {}
    if spec_path.is_file():
        try:
            spec = json.loads(spec_path.read_text())
            if not isinstance(spec, dict):
                raise TypeError("the file does not hold a JSON object")
            meta["dataset_json"] = {k: v for k, v in spec.items() if k not in ("training", "test")}
            labels = spec.get("labels", {})
            if isinstance(labels, dict):
                for k, v in labels.items():
                    if str(k).isdigit():  # MSD: {"0": "background", "1": "liver"}
                        label_names[int(k)] = str(v)
                    elif isinstance(v, int):  # nnU-Net v2: {"background": 0, "liver": 1}
                        label_names[int(v)] = str(k)
                if label_names:
                    declared = sorted(label_names)
            else:
                problems.append(Problem("bad_dataset_json", f"dataset.json: \"labels\" is a {type(labels).__name__}, "
                                        "not a mapping of values to names; label names ignored", "warning"))
            label_names.pop(0, None)
            training = spec.get("training", []) or []
            if not isinstance(training, list):
                problems.append(Problem("bad_dataset_json", f"dataset.json: \"training\" is a {type(training).__name__}, "
                                        "not a list; matching imagesTr and labelsTr by name", "warning"))
                training = []
            for item in training:
                if not isinstance(item, dict) or not item.get("image"):
                    continue
                img, img_in = path_inside(root, item["image"])
                lab, lab_in = path_inside(root, item["label"]) if item.get("label") else (None, True)
                if not (img_in and lab_in):
                    bad = item["image"] if not img_in else item["label"]
                    refused[len(pairs)] = (f"dataset.json lists {bad}, which is outside the dataset folder "
                                           f"{root}; refused (a dataset's files must lie inside it)")
                pairs.append((img, lab))
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(Problem("bad_dataset_json", f"dataset.json unreadable ({exc}); matching files by name",
                                    "warning"))
            pairs = []
    else:
        problems.append(Problem("no_dataset_json", "no dataset.json; matching imagesTr and labelsTr by name",
                                "warning"))
    if not pairs:
        images = [p for p in list_folder(img_dir) if is_image_file(p)]
        labels = [p for p in list_folder(lab_dir) if is_image_file(p)]
        pairs, unmatched = match_stems(images, labels)
        problems += [Problem("orphan_mask", f"label {rel_path(p, root)} has no image", "warning") for p in unmatched]
    cases = []
    for i, (img, lab) in enumerate(pairs):
        cid = re.sub(r"_0000$", "", file_stem(img))
        if i in refused:
            case = Case(cid, img, None, "msd", ndim_of(img), root, meta={"refused": refused[i]})
            case.add_problem("outside_dataset", refused[i])
            cases.append(case)
            continue
        present = lab is not None and (lab.exists() or lab.is_symlink())
        case = Case(cid, img, lab if present else None, "msd", ndim_of(img), root)
        if declared is not None:
            case.meta["declared_labels"] = declared
        if not img.exists() and not img.is_symlink():
            case.add_problem("missing_image", f"{rel_path(img, root)} listed in dataset.json does not exist")
        if lab is not None and not present:
            case.add_problem("missing_mask", f"{rel_path(lab, root)} listed in dataset.json does not exist")
        cases.append(case)
    return Dataset(root, "msd", cases, problems, label_names, meta)


# -- LiTS ----------------------------------------------------------------------------------------
