"""A curation project: one folder holding everything Mask Curator writes about one dataset.

```
DIR/project.json     which dataset (absolute path), its layout, when and by which version
DIR/curator.db       the review store: cases, scores, proposals, decisions, audit log (SQLite, WAL)
DIR/models/          trained ensemble members (train.json, member-*.pt/.json, checkpoints)
DIR/maps/            per-case uncertainty maps (float16 .npz)
DIR/proposals/       proposed masks, in the dataset's own names and formats
DIR/edits/           masks edited by reviewers (written atomically)
DIR/cache/           preprocessed cases (safe to delete)
DIR/ranking.csv      case_id,score,rank (rank 1 = most likely wrong)
```

The dataset folder is only read. A project may not live inside its dataset, and several projects
may point at one dataset.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

__all__ = ["Project", "ProjectError", "safe_name"]

FORMAT = "mask-curator-project/1"


class ProjectError(Exception):
    """The folder is not a usable project (missing, another dataset, inside the dataset)."""


def safe_name(case_id: str) -> str:
    """A file-name-safe form of a case id (ids are unique within a dataset, and so are these)."""
    return re.sub(r"[^A-Za-z0-9._~+-]", "_", case_id)


class Project:
    """Paths and settings of a project folder (see the module docstring)."""

    def __init__(self, root, meta: dict):
        self.root = Path(root).resolve()
        self.meta = meta

    # -- creation ----------------------------------------------------------------------------------
    @classmethod
    def create(cls, root, dataset_path, *, layout: str | None = None) -> "Project":
        """Create a project for ``dataset_path`` (or open it if it already is one for that dataset)."""
        from .. import __version__
        from .io import atomic_write

        root = Path(root).expanduser().resolve()
        data = Path(dataset_path).expanduser().resolve()
        if root == data or data in root.parents:
            raise ProjectError(f"the project folder {root} must not lie inside the dataset {data} "
                               "(the dataset is never written to)")
        meta_path = root / "project.json"
        if meta_path.exists():
            proj = cls.open(root)
            if Path(proj.meta["dataset"]) != data:
                raise ProjectError(f"{root} is already a project for {proj.meta['dataset']}, not {data}")
            return proj
        if root.exists() and any(root.iterdir()):
            raise ProjectError(f"{root} exists and is not a Mask Curator project; choose an empty or new folder")
        root.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "dataset": str(data), "layout": layout, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "mask_curator": __version__}
        atomic_write(meta_path, json.dumps(meta, indent=2))
        return cls(root, meta)

    @classmethod
    def open(cls, root) -> "Project":
        root = Path(root).expanduser().resolve()
        meta_path = root / "project.json"
        if not meta_path.exists():
            raise ProjectError(f"{root} is not a Mask Curator project (no project.json); "
                               "create one with `curator train DATASET --project DIR` or `curator batch`")
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError as exc:
            raise ProjectError(f"{meta_path} is damaged ({exc})") from exc
        return cls(root, meta)

    @staticmethod
    def is_project(path) -> bool:
        return (Path(path) / "project.json").is_file()

    # -- the dataset -------------------------------------------------------------------------------
    @property
    def dataset_path(self) -> Path:
        return Path(self.meta["dataset"])

    def open_dataset(self):
        from .dataset import DatasetError, open_dataset

        try:
            return open_dataset(self.dataset_path, layout=self.meta.get("layout"))
        except DatasetError as exc:
            raise ProjectError(f"the project's dataset cannot be opened: {exc}") from exc

    # -- folders -----------------------------------------------------------------------------------
    def _dir(self, name: str) -> Path:
        p = self.root / name
        p.mkdir(parents=True, exist_ok=True)
        return p

    @property
    def models_dir(self) -> Path:
        return self._dir("models")

    @property
    def maps_dir(self) -> Path:
        return self._dir("maps")

    @property
    def proposals_dir(self) -> Path:
        return self._dir("proposals")

    @property
    def edits_dir(self) -> Path:
        return self._dir("edits")

    @property
    def cache_dir(self) -> Path:
        return self._dir("cache")

    @property
    def db_path(self) -> Path:
        return self.root / "curator.db"

    def map_path(self, case_id: str) -> Path:
        return self.maps_dir / f"{safe_name(case_id)}.npz"

    def member_specs(self) -> list[Path]:
        """JSON specs of the trained (and imported) members, in a stable order."""
        return sorted(p for p in self.models_dir.glob("*.json") if p.name != "train.json"
                      and not p.name.endswith(".relabelled.json"))
