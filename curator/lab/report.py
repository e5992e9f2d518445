"""HTML reports with plots (matplotlib, Agg): one self-contained file, images embedded.

* :func:`project_report` (``curator report PROJECT``): what the batch found, how the scores are
  spread, how much the proposals change, the decisions so far, and the highest-ranked cases as
  thumbnails (image, given mask outline, proposed change, uncertainty heatmap).
* :func:`detect_report`, :func:`table1_report`, :func:`speed_report`: the ``curator bench``
  results (ranking curves, score histograms, Dice before and after, learning curves).
"""

from __future__ import annotations

import base64
import html
import io as _io
import time
from pathlib import Path

import numpy as np

from curator import __version__
from curator.core.curation.calibration import Calibration
from curator.core.engine.uncertainty import load_maps
from curator.core.io.files import atomic_write
from curator.core.project.artifacts import load_proposal_arrays
from curator.core.project.pipeline import relabel_notes
from curator.core.project.store import Store
from curator.lab.experiments import summarise

__all__ = ["project_report", "detect_report", "table1_report", "speed_report", "suite_report", "thumbnail"]

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; } td, th { border: 1px solid #ccc; padding: 4px 10px; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.small { color: #666; font-size: 0.9em; } .grid { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid #ddd; padding: 6px; width: 250px; font-size: 0.85em; }
img { max-width: 100%; }
"""


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> str:
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _img_tag(data_uri: str, alt: str = "") -> str:
    return f'<img src="{data_uri}" alt="{html.escape(alt)}">'


def _table(rows: list[list], header: list[str]) -> str:
    out = ["<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>"]
    for r in rows:
        cells = []
        for v in r:
            if isinstance(v, float):
                cells.append(f'<td class="num">{v:.3f}</td>' if abs(v) < 10 else f'<td class="num">{v:.1f}</td>')
            else:
                cells.append(f"<td>{html.escape(str(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out + ["</table>"])


def _page(title: str, body: list[str]) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class='small'>Mask Curator {__version__}, {stamp}</p>" + "\n".join(body) + "</body></html>")


def _write(path, text: str) -> Path:
    atomic_write(path, text)
    return Path(path)


# -- thumbnails -------------------------------------------------------------------------------------


def thumbnail(image, given: np.ndarray, proposal: np.ndarray | None = None, heat: np.ndarray | None = None,
              title: str = "", *, window=(-160.0, 240.0)) -> str:
    """A PNG (data URI): the image with the given mask's outline (cyan), the proposed change (green
    added, magenta removed) and, beside it, the uncertainty heatmap. 3D: the most uncertain slice."""
    from skimage.segmentation import find_boundaries

    plt = _plt()
    arr = np.asarray(image.array)
    if image.ndim == 3:
        src = heat if heat is not None else (given > 0).astype(float)
        z = int(np.argmax(src.reshape(src.shape[0], -1).sum(1)))
        lo, hi = window
        img = np.clip((arr[z].astype(np.float32) - lo) / (hi - lo), 0, 1)
        img = np.stack([img] * 3, -1)
        given, proposal = given[z], proposal[z] if proposal is not None else None
        heat = heat[z] if heat is not None else None
    elif arr.ndim == 2:
        lo, hi = np.percentile(arr, [1, 99])
        img = np.stack([np.clip((arr - lo) / max(hi - lo, 1e-6), 0, 1)] * 3, -1)
    else:
        img = arr[..., :3].astype(np.float32) / 255.0
    over = img.copy()
    if proposal is not None:
        added = (proposal > 0) & (given == 0)
        removed = (proposal == 0) & (given > 0)
        over[added] = 0.5 * over[added] + 0.5 * np.array([0.2, 1.0, 0.2])
        over[removed] = 0.5 * over[removed] + 0.5 * np.array([1.0, 0.2, 1.0])
    over[find_boundaries(given > 0, mode="inner")] = (0.0, 0.9, 1.0)
    ncols = 2 if heat is not None else 1
    fig, axes = plt.subplots(1, ncols, figsize=(2.4 * ncols, 2.4))
    axes = np.atleast_1d(axes)
    axes[0].imshow(over)
    axes[0].set_title(title, fontsize=8)
    if heat is not None:
        axes[1].imshow(heat, cmap="inferno")
        axes[1].set_title("uncertainty", fontsize=8)
    for ax in axes:
        ax.axis("off")
    return _png(fig)


# -- project report ---------------------------------------------------------------------------------


def project_report(project, out=None, *, top: int = 12) -> Path:
    """``PROJECT/report.html`` (or ``out``): the batch's findings and the review so far."""
    plt = _plt()
    out = Path(out) if out else project.root / "report.html"
    dataset = project.open_dataset()
    body = []
    with Store(project.db_path) as store:
        rows = store.queue()
        scores = store.scores()
        failed = store.failed()
        decisions: dict[str, int] = {}
        for r in rows:
            decisions[r["decision"]] = decisions.get(r["decision"], 0) + 1
        ranked = [r for r in rows if r["score"] is not None]
        body.append(f"<p>Dataset <code>{html.escape(str(dataset.root))}</code> ({dataset.layout}, {len(dataset)} cases); "
                    f"{len(ranked)} ranked, {len(failed)} failed.</p>")
        body.append(_trust_section(project, store))
        body.append("<h2>Decisions</h2>" + _table([[k, v] for k, v in sorted(decisions.items())], ["decision", "cases"]))
        if ranked:
            fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
            axes[0].hist([r["score"] for r in ranked], bins=30, color="#3b6ea5")
            axes[0].set_xlabel("combined score (higher = more likely wrong)")
            axes[0].set_ylabel("cases")
            change = [100 * (r["change_fraction"] or 0) for r in ranked]
            axes[1].scatter([r["rank"] for r in ranked], change, s=8, color="#a53b6e")
            axes[1].set_xlabel("rank")
            axes[1].set_ylabel("proposed change (% of mask)")
            body.append("<h2>Scores and proposed changes</h2>" + _img_tag(_png(fig), "scores"))
            comps = [k for k in ("softmin", "dice", "disagreement", "change", "outlier")
                     if all(k in scores.get(r["case_id"], {}) for r in ranked)]
            if comps:
                table = [[r["rank"], r["case_id"], r["score"]] + [scores[r["case_id"]][k] for k in comps]
                         + [r["decision"]] for r in ranked[:50]]
                body.append("<h2>Top of the review queue</h2>" +
                            _table(table, ["rank", "case", "score"] + comps + ["decision"]))
        cards = []
        for r in ranked[:top]:
            cid = r["case_id"]
            try:
                case = dataset[cid]
                image = case.read_image()
                given = case.read_mask(image).array
                p = store.proposal(cid)
                prop = load_proposal_arrays(p["regions_path"])[0] if p and p.get("regions_path") else None
                mp = project.map_path(cid)
                heat = load_maps(mp).at_original("entropy") if mp.exists() else None
                uri = thumbnail(image, given, prop, heat, cid)
            except Exception as exc:  # a bad case is listed, not fatal for the report
                cards.append(f"<div class='card'><b>{html.escape(cid)}</b><br>cannot show: {html.escape(str(exc))}</div>")
                continue
            cards.append(f"<div class='card'>{_img_tag(uri, cid)}<br><b>#{r['rank']} {html.escape(cid)}</b> "
                         f"score {r['score']:.3f}, change {100 * (r['change_fraction'] or 0):.1f} %, {r['decision']}</div>")
        if cards:
            body.append("<h2>Highest-ranked cases</h2><p class='small'>cyan: given mask; green: proposed additions; "
                        "magenta: proposed removals; right: uncertainty (entropy)</p><div class='grid'>"
                        + "".join(cards) + "</div>")
        if failed:
            body.append("<h2>Failed cases</h2>" + _table([[k, v] for k, v in sorted(failed.items())], ["case", "reason"]))
    return _write(out, _page(f"Mask Curator report: {dataset.root.name}", body))


def _trust_section(project, store) -> str:
    """How far to trust the proposals: the calibrated gate or why proposals were withheld, and
    what relabelling did in each member."""
    parts = ["<h2>How far to trust the proposals</h2>"]
    calib = store.get_state("calibration")
    if calib:
        c = Calibration(**{**calib, "false_change": {float(k): v for k, v in (calib.get("false_change") or {}).items()}})
        parts.append(f"<p><b>{html.escape(c.describe())}</b></p>")
        if c.false_change:
            parts.append("<p class='small'>Estimated share of a correct mask's pixels changed, by region confidence "
                         "gate (from the cases judged correct):</p>" + _table(
                             [[f"{g:g}", f"{100 * v:.2f} %"] for g, v in sorted(c.false_change.items())],
                             ["gate", "false change"]))
    notes = relabel_notes(project.member_specs())
    if notes:
        parts.append("<p>Relabelling while training, per member:</p><ul>"
                     + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    return "\n".join(parts) if len(parts) > 1 else ""


# -- bench reports -----------------------------------------------------------------------------------


def detect_report(result: dict, out, *, thumbnails: list[str] | None = None, project_link: str | None = None) -> Path:
    plt = _plt()
    det = result["detection"]
    body = [f"<p>Noise <b>{result['settings']['noise']}</b> on {100 * result['settings']['fraction']:.0f} % of the "
            f"cases of <code>{html.escape(result['settings']['dataset'])}</code>, seed {result['settings']['seed']}.</p>"]
    rows = []
    for name, m in det.items():
        rows.append([name, m["auroc"], m["average_precision"], m.get(f"precision_at_{m['wrong']}", float("nan"))])
    body.append("<h2>Finding the wrong masks</h2>" + _table(rows, ["ranking", "AUROC", "average precision",
                                                                  "precision at k = #wrong"]))
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for name, m in det.items():
        xs, ys = zip(*([(0.0, 0.0)] + [tuple(p) for p in m["found_curve"]]))
        ax.plot(np.asarray(xs) * 100, np.asarray(ys) * 100, label=name, lw=2 if name == "combined" else 1)
    ax.set_xlabel("cases reviewed, in ranking order (%)")
    ax.set_ylabel("wrong masks found (%)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    body.append(_img_tag(_png(fig), "ranking curves"))
    rep = result["repair"]
    body.append("<h2>Repairs</h2>" + _table([
        ["mean Dice of the given masks to the clean ones (corrupted cases)", rep["dice_given_to_clean"]],
        ["mean Dice of the proposals to the clean ones (corrupted cases)", rep["dice_proposal_to_clean"]],
        ["share of the gap closed", rep["gap_closed"]],
        ["mean change proposed on clean cases (fraction of mask pixels)", rep["change_on_clean_cases"]],
    ], ["measure", "value"]))
    if thumbnails:
        body.append("<div class='grid'>" + "".join(f"<div class='card'>{_img_tag(t)}</div>" for t in thumbnails) + "</div>")
    if project_link:
        body.append(f"<p>The ranked cases with their proposals and heatmaps: <a href='{html.escape(project_link)}'>"
                    f"project report</a>.</p>")
    return _write(out, _page("Mask Curator: detection benchmark", body))


SUITE_COLUMNS = [  # (metric, heading, format: "%" for shares)
    ("auroc_combined", "AUROC combined", ""), ("auroc_softmin", "AUROC softmin", ""),
    ("auroc_random", "AUROC random", ""), ("top30", "wrong masks in first 30 %", "%"),
    ("gap_closed", "gap closed (corrupted)", "%"), ("clean_changed", "clean pixels changed", "%"),
    ("withheld", "cases withheld", "%"), ("model_dice", "model Dice to clean", ""),
]


def suite_report(result: dict, out) -> Path:
    """``curator bench suite``: one table per variant (relabelling on / off), a row per dataset
    with the mean over its runs and the worst run, then the mean and the worst over datasets."""
    summary = result["summary"]
    st = result["settings"]
    body = [f"<p>Profile <b>{html.escape(result['profile'])}</b>: datasets {html.escape(', '.join(st['datasets']))}; "
            f"noise settings {html.escape(', '.join(st['noises']))}; seeds {st['seeds']}; up to {st['cases']} cases "
            "per dataset. Each cell: mean over the dataset's runs (worst run). Wrong masks in the first 30 % and "
            "gap closed: higher is better; clean pixels changed and cases withheld: lower is better.</p>"]

    def fmt(v, kind):
        if v is None or not np.isfinite(v):
            return "-"
        return f"{100 * v:.1f} %" if kind == "%" else f"{v:.3f}"

    for variant in ("relabel", "no-relabel"):
        rows = []
        for name, row in summary["datasets"].items():
            rows.append([name, row["runs"]] + [f"{fmt(row[f'{variant}:{m}'], k)} ({fmt(row[f'{variant}:{m}:worst'], k)})"
                                                 for m, _, k in SUITE_COLUMNS])
        ov = summary["overall"]
        rows.append(["mean over datasets (worst dataset)", ""] +
                    [f"{fmt(ov[f'{variant}:{m}'], k)} ({fmt(ov[f'{variant}:{m}:worst'], k)})" for m, _, k in SUITE_COLUMNS])
        title = "relabelling while training (the default)" if variant == "relabel" else "relabelling off"
        body.append(f"<h2>Batch relabel, {title}</h2>" + _table(rows, ["dataset", "runs"] + [h for _, h, _ in SUITE_COLUMNS]))
    runs = []
    for r in result["runs"]:
        if "error" in r:
            runs.append([r["dataset"], r["noise"], r["seed"], r["error"]] + [""] * 6)
            continue
        res = r.get("relabel", {})
        runs.append([r["dataset"], r["noise"], r["seed"], r.get("cases", ""), r.get("wrong", ""),
                     fmt(res["detection"]["combined"]["auroc"], ""),
                     fmt(res["detection"].get("cleanlab softmin", {}).get("auroc", float("nan")), ""),
                     fmt(res["repair"]["gap_closed"], "%"), fmt(res["repair"]["change_on_clean_cases"], "%"),
                     "; ".join(res["repair"].get("withheld_reasons", []))[:200]])
    body.append("<h2>Every run (relabelling on)</h2>" + _table(runs, ["dataset", "noise", "seed", "cases", "wrong",
                                                                        "AUROC combined", "AUROC softmin", "gap closed",
                                                                        "clean changed", "proposals withheld"]))
    return _write(out, _page("Mask Curator: development suite", body))


POSTER_TABLE1 = {  # dermoscopy, Dice vs clean / vs noisy (Redekop & Chernyavskiy 2021)
    "clean": {"*": (82.5, None)},
    "none": {"polygon3": (57.9, 65.2), "polygon7": (78.3, 80.2), "smooth": (78.7, 80.6)},
    "reweight": {"polygon3": (79.5, 55.4), "polygon7": (80.7, 79.8), "smooth": (80.3, 79.3)},
    "relabel": {"polygon3": (79.4, 49.3), "polygon7": (80.5, 79.7), "smooth": (81.5, 80.4)},
}


def table1_report(results: dict[str, dict], out) -> Path:
    """``results``: noise kind → experiment result (see :func:`curator.lab.experiments.summarise`)."""
    plt = _plt()
    body = []
    for noise, res in results.items():
        summ = summarise(res)
        rows = []
        for s in summ:
            poster = POSTER_TABLE1.get(s["method"], {})
            pc = poster.get(noise) or poster.get("*")
            rows.append([s["method"], s["dice_clean"], s["dice_noisy"],
                         f"{pc[0]:.1f} / {pc[1]:.1f}" if pc and pc[1] is not None else (f"{pc[0]:.1f}" if pc else "–"),
                         "; ".join(f"seed {a}: {b:.1f}/{c:.1f}" for a, b, c in s["per_seed"])])
        body.append(f"<h2>Noise: {html.escape(noise)}</h2>" +
                    _table(rows, ["method", "Dice vs clean (%)", "Dice vs noisy (%)", "poster (clean / noisy)",
                                  "per seed (clean/noisy)"]))
        fig, ax = plt.subplots(figsize=(7, 3.6))
        for r in res["runs"]:
            curve = [h.get("monitor_dice") for h in r["history"] if h.get("monitor_dice") is not None]
            if curve:
                ax.plot(range(1, len(curve) + 1), np.asarray(curve) * 100, label=f"{r['method']} (seed {r['seed']})",
                        alpha=0.8)
        if ax.lines:
            ax.set_xlabel("epoch")
            ax.set_ylabel("validation Dice vs clean masks (%)")
            ax.legend(fontsize=7, ncol=2)
            ax.grid(alpha=0.3)
            body.append(_img_tag(_png(fig), f"learning curves {noise}"))
        else:
            plt.close(fig)
    return _write(out, _page("Mask Curator: Table 1 (training with noisy masks)", body))


def speed_report(result: dict, out) -> Path:
    plt = _plt()
    rows = []
    for r in result["results"]:
        if "error" in r:
            rows.append([r["scenario"], "failed: " + r["error"], "", "", "", ""])
            continue
        rows.append([r["scenario"], "x".join(str(v) for v in reversed(r["shape"])), r["ms_per_pass"],
                     r["ms_per_case"] / 1000, r["gflops_achieved"], r["peak_memory_mb"]])
    body = [f"<p>Device: {html.escape(result['device'])}; matmul peak {result['peak_gflops']:.1f} GFLOP/s; "
            f"torch {result['torch']}</p>",
            _table(rows, ["scenario", "size (x×y×z)", "ms per pass", "s per case", "GFLOP/s", "peak MB"])]
    ok = [r for r in result["results"] if "error" not in r]
    if ok:
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.bar([r["scenario"] for r in ok], [r["ms_per_case"] / 1000 for r in ok], color="#3b6ea5")
        ax.set_ylabel("seconds per case (5 members × 8 TTA)")
        body.append(_img_tag(_png(fig), "speed"))
    return _write(out, _page("Mask Curator: speed benchmark", body))
