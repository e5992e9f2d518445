"""A quick end-to-end self-check (``curator selftest`` / ``mask-curator --selftest``).

Generates a tiny synthetic dataset with wrong masks, runs Batch relabel with small settings
(train, uncertainty, proposals, ranking), records a few decisions, exports the cleaned dataset
and checks what was written. Exits 0 when everything works; otherwise prints what failed.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from curator.core.data.discover import open_dataset
from curator.core.engine.training import RelabelConfig, TrainConfig
from curator.core.io.files import read_csv
from curator.core.jobs import run
from curator.core.project.export import iter_export
from curator.core.project.folder import Project
from curator.core.project.pipeline import UncertaintyConfig, iter_batch
from curator.core.project.store import Store
from curator.lab.synthetic import iter_write_demo

__all__ = ["run_selftest"]


def run_selftest(root=None, *, echo=print) -> int:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="curator-selftest-") as tmp:
        base = Path(root) if root else Path(tmp)
        checks: list[tuple[str, bool, str]] = []
        try:
            demo = run(iter_write_demo(base / "demo", n_derm=8, n_ct=2, derm_shape=(96, 128), ct_shape=(12, 40, 40)))
            ds = open_dataset(demo / "derm")
            checks.append(("demo dataset opens", len(ds) == 8, f"{len(ds)} cases, layout {ds.layout}"))
            cfg = TrainConfig(folds=2, epochs=2, size=48, channels=(8, 16, 32), batch_size=4, relabel=RelabelConfig())
            res = run(iter_batch(demo / "derm", base / "project", train_cfg=cfg, unc_cfg=UncertaintyConfig(tta=2)))
            ranking = read_csv(base / "project" / "ranking.csv")
            checks.append(("batch ranks every case", len(ranking) == 8 and not res.failed, f"{len(ranking)} ranked"))
            project = Project.open(base / "project")
            with Store(project.db_path, reviewer="selftest") as store:
                top = ranking[0]["case_id"]
                if (store.proposal(top) or {}).get("regions"):  # (proposals may be withheld on so few cases)
                    store.decide(top, "accepted")
                store.decide(ranking[1]["case_id"], "excluded")
                store.decide(ranking[2]["case_id"], "kept")
            out = base / "cleaned"
            exported = run(iter_export(project, out))
            changes = read_csv(out / "changes.csv")
            prov = json.loads((out / "provenance.json").read_text())
            checks.append(("export writes the cleaned dataset", len(changes) == 8 and len(exported.excluded) == 1,
                           f"{len(exported.changed)} changed, {len(exported.excluded)} excluded"))
            checks.append(("provenance lists models and checksums",
                           len(prov["models"]) == 2 and len(prov["outputs_sha256"]) > 10, f"{len(prov['models'])} models"))
            back = open_dataset(out)
            checks.append(("the export reopens in the same layout", back.layout == ds.layout and len(back) == 7,
                           f"{back.layout}, {len(back)} cases"))
        except Exception as exc:  # report, do not crash: this is a diagnostic
            checks.append(("self-test ran to the end", False, f"{type(exc).__name__}: {exc}"))
    ok = all(c[1] for c in checks)
    for name, passed, detail in checks:
        echo(f"  [{'ok' if passed else 'FAILED'}] {name}: {detail}")
    echo(f"self-test {'passed' if ok else 'FAILED'} in {time.perf_counter() - t0:.1f} s")
    return 0 if ok else 1
