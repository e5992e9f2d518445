"""A curation project: one folder holding everything Mask Curator writes about one dataset.

```
DIR/project.json     which dataset (its path relative to the project, and where it last was), its
                     layout and fingerprint, when and by which version
DIR/dataset-files.json  the fingerprint's per-file digests (to tell what changed on a relink)
DIR/curator.db       the review store: cases, scores, proposals, decisions, audit log (SQLite, WAL)
DIR/models/          trained ensemble members (train.json, member-*.pt/.json, checkpoints)
DIR/models/round-N/  the members of review round N (fine-tuned on the reviewed masks, `curator
                     rescore`); DIR/models/rounds.json names the round that scores the project
DIR/maps/            per-case uncertainty maps (float16 .npz)
DIR/proposals/       proposed masks, in the dataset's own names and formats
DIR/edits/           masks edited by reviewers (written atomically)
DIR/cache/           preprocessed cases (safe to delete)
DIR/ranking.csv      case_id,score,rank (rank 1 = most likely wrong)
```

The dataset folder is only read. A project may not live inside its dataset, and several projects
may point at one dataset.

Projects move: every path the project keeps is relative to it (files inside the project) or to
the dataset (its cases), and the dataset is found where it last was, else at the same place
relative to the project (a project and its dataset moved or copied together), checked against the
fingerprint taken when the project was made. Elsewhere, :meth:`Project.relink` (``curator relink
PROJECT DATASET``) points the project at it after checking that it holds the same data. A project
reviewed on another machine needs no models: its maps and proposals are in the project. Projects
written by earlier versions (absolute paths) are migrated when opened.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

from curator import __version__
from curator.core.data.cases import DatasetError
from curator.core.data.discover import open_dataset
from curator.core.errors import CuratorError
from curator.core.io.files import atomic_write, explain_os_error, remove_stale_temp, safe_name
from curator.core.project.store import Store

__all__ = ["Project", "ProjectError", "DatasetMissingError", "dataset_fingerprint"]

FORMAT = "mask-curator-project/2"
FINGERPRINT = "mask-curator-fingerprint/1"
_WHOLE = 1 << 18  # files up to 256 kB (masks) are hashed whole; larger ones by head, tail and size
_PART = 1 << 14


class ProjectError(CuratorError):
    """The folder is not a usable project (missing, another dataset, inside the dataset)."""


class DatasetMissingError(ProjectError):
    """The project's dataset is not where the project expects it: relink it."""


def _legacy_safe_name(case_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._~+-]", "_", case_id)


def _file_digest(path: Path, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        if size <= _WHOLE:
            h.update(fh.read())
        else:
            h.update(fh.read(_PART))
            fh.seek(size - _PART)
            h.update(fh.read(_PART))
    return h.hexdigest()[:32]


def dataset_fingerprint(root) -> dict[str, str]:
    """``{relative path: "size:digest"}`` for every file of a dataset folder (hidden files and
    links that lead nowhere left out). Files up to 256 kB (masks) are hashed whole, larger ones
    (images) by their first and last 16 kB and their size (a compressed file's last bytes hold a
    checksum of all its content): cheap enough for any dataset, and two datasets that agree on it
    hold the same files."""
    root = Path(root)
    out: dict[str, str] = {}
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:  # a link loop
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__MACOSX")
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = Path(dirpath) / name
            try:
                fst = p.stat()
                out[p.relative_to(root).as_posix()] = f"{fst.st_size}:{_file_digest(p, fst.st_size)}"
            except OSError:
                continue
    return out


def _summary(files: dict[str, str]) -> str:
    doc = json.dumps(sorted(files.items()), separators=(",", ":"))
    return hashlib.sha256(doc.encode("utf-8", "surrogatepass")).hexdigest()


def compare_fingerprints(old: dict[str, str], new: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
    """``(changed, missing, added)`` relative paths between two fingerprints."""
    changed = sorted(k for k in old if k in new and old[k] != new[k])
    missing = sorted(k for k in old if k not in new)
    added = sorted(k for k in new if k not in old)
    return changed, missing, added


def _rel_or_abs(target: Path, start: Path) -> str:
    try:
        return os.path.relpath(target, start).replace(os.sep, "/")
    except ValueError:  # another drive (Windows)
        return str(target)


class Project:
    """Paths and settings of a project folder (see the module docstring)."""

    def __init__(self, root, meta: dict):
        self.root = Path(root).resolve()
        self.meta = meta
        self._located: Path | None = None

    # -- creation ----------------------------------------------------------------------------------
    @classmethod
    def create(cls, root, dataset_path, *, layout: str | None = None) -> "Project":
        """Create a project for ``dataset_path`` (or open it if it already is one for that dataset;
        a project whose dataset moved is pointed at ``dataset_path`` when it holds the same data)."""
        root = Path(root).expanduser().resolve()
        data = Path(dataset_path).expanduser().resolve()
        if root == data or data in root.parents:
            raise ProjectError(f"the project folder {root} must not lie inside the dataset {data} "
                               "(the dataset is never written to)")
        meta_path = root / "project.json"
        if meta_path.exists():
            proj = cls.open(root)
            try:
                located = proj.locate_dataset()
            except DatasetMissingError:
                located = None
            if located == data:
                return proj
            if located is None:  # moved: the same data at the new place is this project's dataset
                proj.relink(data)
                return proj
            raise ProjectError(f"{root} is already a project for {located}, not {data}")
        try:
            if root.exists() and any(root.iterdir()):
                raise ProjectError(f"{root} exists and is not a Mask Curator project; choose an empty or new folder")
        except PermissionError as exc:
            raise ProjectError(f"{root}: cannot read the project folder ({exc.strerror})") from exc
        root.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "dataset": _rel_or_abs(data, root), "dataset_abs": str(data), "layout": layout,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "mask_curator": __version__}
        proj = cls(root, meta)
        proj._record_fingerprint(data)
        proj._save()
        return proj

    @classmethod
    def open(cls, root) -> "Project":
        root = Path(root).expanduser().resolve()
        meta_path = root / "project.json"
        if not meta_path.exists():
            raise ProjectError(f"{root} is not a Mask Curator project (no project.json); "
                               "create one with `curator train DATASET --project DIR` or `curator batch`")
        try:
            meta = json.loads(meta_path.read_text())
        except (ValueError, OSError) as exc:
            raise ProjectError(f"{meta_path} is damaged or unreadable ({exc})") from exc
        if not isinstance(meta, dict) or "dataset" not in meta:
            raise ProjectError(f"{meta_path} is not a Mask Curator project file")
        proj = cls(root, meta)
        proj._migrate()
        try:  # what writers killed mid-write left (an earlier run's temporary files), never a live one's
            proj.remove_stale_temp()
        except OSError:
            pass
        return proj

    @staticmethod
    def is_project(path) -> bool:
        return (Path(path) / "project.json").is_file()

    def _save(self) -> None:
        atomic_write(self.root / "project.json", json.dumps(self.meta, indent=2))

    def _try_save(self) -> None:
        """Save ``project.json`` where the project can be written (a read-only copy still opens)."""
        try:
            self._save()
        except OSError:
            pass

    def _migrate(self) -> None:
        """Projects of format 1 held the dataset's absolute path: keep it as the last known place
        and add the relative one (and the fingerprint, when the dataset is there)."""
        if self.meta.get("format") == FORMAT and "dataset_abs" in self.meta:
            return
        old = Path(self.meta["dataset"])
        if old.is_absolute():
            self.meta["dataset_abs"] = str(old)
            self.meta["dataset"] = _rel_or_abs(old, self.root)
        self.meta["format"] = FORMAT
        if old.is_dir() and "dataset_fingerprint" not in self.meta:
            self._record_fingerprint(old)
        self._try_save()

    def _record_fingerprint(self, data: Path) -> None:
        files = dataset_fingerprint(data)
        self.meta["dataset_fingerprint"] = {"algorithm": FINGERPRINT, "sha256": _summary(files), "files": len(files)}
        try:
            atomic_write(self.root / "dataset-files.json", json.dumps({"algorithm": FINGERPRINT, "files": files}))
        except OSError:
            pass

    def _recorded_files(self) -> dict[str, str] | None:
        try:
            doc = json.loads((self.root / "dataset-files.json").read_text())
            return doc["files"] if doc.get("algorithm") == FINGERPRINT else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    # -- the dataset -------------------------------------------------------------------------------
    @property
    def dataset_path(self) -> Path:
        """Where the dataset is (see :meth:`locate_dataset`), else where it last was."""
        try:
            return self.locate_dataset()
        except DatasetMissingError:
            return Path(self.meta.get("dataset_abs") or self.root / self.meta["dataset"])

    def locate_dataset(self) -> Path:
        """The dataset folder: where it last was, else at the same place relative to the project
        (checked against the fingerprint). Raises :class:`DatasetMissingError` when neither holds it."""
        if self._located is not None and self._located.is_dir():
            return self._located
        last = Path(self.meta["dataset_abs"]) if self.meta.get("dataset_abs") else None
        if last is not None and last.is_dir():
            self._located = last
            return last
        rel = self.meta.get("dataset")
        cand = (self.root / rel).resolve() if rel else None
        if cand is not None and cand.is_dir() and cand != last:
            problem = self.differences(cand)
            if problem is None:
                self.meta["dataset_abs"] = str(cand)
                self._try_save()
                self._located = cand
                return cand
            raise DatasetMissingError(
                f"the project's dataset is not at {last}; {cand} (where it would be, relative to the project) holds "
                f"other data ({problem}); if the dataset moved, run `curator relink {self.root} NEW_PLACE`")
        where = f"{last}" + (f" or {cand}" if cand is not None and cand != last else "")
        raise DatasetMissingError(f"the project's dataset is not at {where}; if it moved, run "
                                  f"`curator relink {self.root} NEW_PLACE` (or open the project in the app, "
                                  "which asks where it is)")

    def differences(self, data) -> str | None:
        """Why ``data`` is not this project's dataset (``None``: it holds the same data). With a
        fingerprint: every file recorded when the project was made, with the same content (new
        files are allowed); without (a project of an earlier version): every case the project
        knows, with a mask where it had one."""
        data = Path(data)
        recorded = self._recorded_files()
        if recorded is not None:
            changed, missing, _ = compare_fingerprints(recorded, dataset_fingerprint(data))
            if not changed and not missing:
                return None
            parts = []
            if changed:
                parts.append(f"{len(changed)} file(s) differ: {', '.join(changed[:3])}{' ...' if len(changed) > 3 else ''}")
            if missing:
                parts.append(f"{len(missing)} file(s) missing: {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
            return "; ".join(parts)

        try:
            ds = open_dataset(data, layout=self.meta.get("layout"))
        except DatasetError as exc:
            return str(exc)
        if not self.db_path.exists():
            return None

        with Store(self.db_path) as store:
            known = store.case_ids()
        have = {c.id for c in ds.cases}
        lost = [c for c in known if c not in have]
        if lost:
            return f"{len(lost)} of the project's {len(known)} cases are not there: {', '.join(lost[:3])}" + \
                (" ..." if len(lost) > 3 else "")
        return None

    def relink(self, data, *, force: bool = False) -> dict:
        """Point the project at its dataset's new place after checking it holds the same data
        (``force``: without the check). Returns what was recorded."""
        data = Path(data).expanduser().resolve()
        if not data.is_dir():
            raise ProjectError(f"{data}: no such folder")
        if data == self.root or data in self.root.parents:
            raise ProjectError(f"the project {self.root} must not lie inside the dataset {data}")
        problem = None if force else self.differences(data)
        if problem is not None:
            raise ProjectError(f"{data} does not hold this project's dataset: {problem}. If it is the right "
                               "folder and the changes are expected, relink with --force")
        previous = self.meta.get("dataset_abs")
        self.meta["dataset"] = _rel_or_abs(data, self.root)
        self.meta["dataset_abs"] = str(data)
        if force or self._recorded_files() is None:
            self._record_fingerprint(data)
        try:
            self._save()
        except OSError as exc:
            raise ProjectError(f"cannot record the new place: {explain_os_error(exc)}") from exc
        self._located = data
        if self.db_path.exists():
            with Store(self.db_path) as store:
                store.log("relink", {"from": previous, "to": str(data), "forced": bool(force)})
        return {"from": previous, "to": str(data), "forced": bool(force)}

    def open_dataset(self):
        path = self.locate_dataset()
        try:
            return open_dataset(path, layout=self.meta.get("layout"))
        except DatasetError as exc:
            raise ProjectError(f"the project's dataset cannot be opened: {exc}") from exc

    # -- folders -----------------------------------------------------------------------------------
    def _dir(self, name: str) -> Path:
        p = self.root / name
        p.mkdir(parents=True, exist_ok=True)
        return p

    @property
    def models_dir(self) -> Path:
        """The batch's ensemble (round 0)."""
        return self._dir("models")

    @property
    def rounds_path(self) -> Path:
        return self.models_dir / "rounds.json"

    def rounds(self) -> list[dict]:
        """The review rounds re-scored so far (``curator rescore``), oldest first."""
        try:
            return list(json.loads(self.rounds_path.read_text()).get("rounds", []))
        except (OSError, ValueError):
            return []

    def round_dir(self, n: int) -> Path:
        return self.models_dir if n == 0 else self.models_dir / f"round-{n}"

    @property
    def current_models_dir(self) -> Path:
        """The ensemble that scores the project now: the last finished review round's, else the batch's."""
        done = self.rounds()
        return self.round_dir(int(done[-1]["round"])) if done else self.models_dir

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
        path = self.maps_dir / f"{safe_name(case_id)}.npz"
        if not path.exists():  # maps written by an earlier version under the old name
            old = self.maps_dir / f"{_legacy_safe_name(case_id)}.npz"
            if old != path and old.exists():
                return old
        return path

    def remove_stale_temp(self) -> list[Path]:
        """Delete the temporary files killed writers left in the project (never a live one's)."""
        return remove_stale_temp(self.root)

    def member_specs(self) -> list[Path]:
        """JSON specs of the trained (and imported) members, in a stable order."""
        return sorted(p for p in self.current_models_dir.glob("*.json") if p.name not in ("train.json", "rounds.json")
                      and not p.name.endswith(".relabelled.json"))
