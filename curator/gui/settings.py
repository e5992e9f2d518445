"""The desktop app's per-user files: job settings, recent projects, where projects live by default.

Plain JSON under the user's config folder (``CURATOR_HOME`` overrides it, for tests and portable
installs); no Qt here.
"""

from __future__ import annotations

import json
from pathlib import Path

from curator.core.curation.proposals import ProposalConfig
from curator.core.engine.training import SAVED_BEFORE, RelabelConfig, TrainConfig
from curator.core.io.files import atomic_write
from curator.core.project.pipeline import UncertaintyConfig

__all__ = ["Settings", "user_dir", "default_project_for", "recent_projects", "remember_recent"]


def user_dir(kind: str) -> Path:
    import os

    from platformdirs import user_config_dir, user_data_dir

    base = os.environ.get("CURATOR_HOME")
    if base:
        return Path(base) / kind
    return Path(user_config_dir("mask-curator") if kind == "config" else user_data_dir("mask-curator"))


def default_project_for(dataset_path) -> Path:
    """Where a dataset's project lives when the user did not choose one (never inside the dataset)."""
    import hashlib

    p = Path(dataset_path).resolve()
    digest = hashlib.sha256(str(p).encode()).hexdigest()[:8]
    return user_dir("data") / "projects" / f"{p.name}-{digest}"


class Settings:
    """Job settings the Settings dialog edits (kept per user in JSON)."""

    def __init__(self):
        self.train = TrainConfig(relabel=RelabelConfig())
        self.uncertainty = UncertaintyConfig()
        self.proposal = ProposalConfig()
        self.reviewer: str | None = None
        self.executor = "local"  # where Batch relabel trains and scores (an executor plugin's name)
        self.executor_address: str | None = None  # the cluster it joins (ray: auto, HOST:PORT)

    def path(self) -> Path:
        return user_dir("config") / "settings.json"

    def load(self) -> "Settings":
        p = self.path()
        if p.exists():
            try:
                d = json.loads(p.read_text())
                # settings saved before a setting existed get today's default (a saved *run* without
                # it reads back as the training it had: SAVED_BEFORE)
                today = TrainConfig()
                self.train = (TrainConfig.from_json({**{k: getattr(today, k) for k in SAVED_BEFORE}, **d["train"]})
                              if d.get("train") else self.train)
                u = d.get("uncertainty") or {}
                self.uncertainty = UncertaintyConfig(**{k: v for k, v in u.items() if k in UncertaintyConfig.__dataclass_fields__ and k != "models"})
                self.proposal = ProposalConfig.from_json(d.get("proposal", {})) if d.get("proposal") else self.proposal
                self.reviewer = d.get("reviewer")
                self.executor = str(d.get("executor") or "local")
                self.executor_address = d.get("executor_address") or None
            except (ValueError, TypeError):
                pass  # a damaged settings file falls back to the defaults
        return self

    def save(self) -> None:
        doc = {"train": self.train.to_json(), "uncertainty": {**self.uncertainty.to_json(), "device": self.uncertainty.device},
               "proposal": self.proposal.to_json(), "reviewer": self.reviewer, "executor": self.executor,
               "executor_address": self.executor_address}
        atomic_write(self.path(), json.dumps(doc, indent=2))


def recent_projects() -> list[str]:
    p = user_dir("config") / "recent.json"
    try:
        return [r for r in json.loads(p.read_text()) if Path(r).exists()]
    except (OSError, ValueError):
        return []


def remember_recent(root: Path) -> None:
    items = [str(root)] + [r for r in recent_projects() if r != str(root)]
    atomic_write(user_dir("config") / "recent.json", json.dumps(items[:10]))
