"""Training one member of a K-fold ensemble (a MONAI network), with relabelling of noisy masks
while training.

The ensemble itself (the folds, one task per member, run here or by an executor) is
:func:`curator.core.engine.ensemble.iter_train`. :func:`iter_train_member` trains one network
and, when asked, relabels its training masks as it goes (Redekop & Chernyavskiy, ISBI 2021): from a start epoch (chosen where the relative change of
the mean cumulative uncertainty on the training set is smallest, or set by the user), the member's
own test-time-augmented predictions on its training cases decide which pixels' labels flip
(:mod:`curator.core.engine.relabel`). The original masks are never touched; the flipped labels and their
history are saved beside the member.

Everything yields :class:`~curator.core.jobs.Progress` after every batch (a cancellation point)
and checkpoints after every epoch, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Generator, Sequence

import numpy as np

from curator.core.engine.augment import random_augment
from curator.core.engine.device import autocast, resolve_device
from curator.core.engine.models import ModelSpec, build_network, load_member, save_member
from curator.core.engine.prepare import PreparedCase
from curator.core.engine.relabel import apply_flips, flip_candidates, suspect_cases
from curator.core.engine.relabel_guard import RelabelGuard, auto_start, drifted
from curator.core.engine.training_data import (
    TrainError,
    monitor_dice,
    pixel_weights,
    predict_training_items,
    batches_2d,
    batches_3d,
    make_folds,
    member_seed,
    pad_to,
    save_checkpoint,
    save_relabelled,
    seg_loss,
)
from curator.core.jobs import Progress
from curator.core.metrics import foreground_dice

__all__ = ["RelabelConfig", "TrainConfig", "SAVED_BEFORE", "batch_for", "MemberResult", "seg_loss", "make_folds",
           "iter_train_member", "build_spec", "TrainError"]


@dataclass
class RelabelConfig:
    """Relabel-while-training settings (see :mod:`curator.core.engine.relabel` for the rules).

    The defaults are the variant that helps on real data (PH2 with 3-vertex polygon masks: Dice
    against clean masks 57.9 without correction, 89.5 with it, 93.1 training on clean masks; means
    of three seeds):
    from the automatic start epoch, while the network still learns the images rather than the
    noise, every epoch each training pixel takes the class the member's test-time-augmented
    consensus gives it (``tau`` 0.5) wherever that disagrees with the given mask, anywhere in the
    image; flips are recomputed from the given mask each epoch. Only the cases whose masks the
    consensus contradicts unusually much are relabelled (``select="suspects"``, see
    :func:`curator.core.engine.relabel.suspect_cases`; ``"all"`` relabels every case): relabelling a
    correct mask only swaps a careful outline for the network's own. The poster's plain rule (flip
    where uncertainty exceeds ``delta``) is ``rule="uncertainty"``.

    Relabelling with the consensus pays only when the network at the start epoch is already
    better than the masks. When it is not (mild noise, masks better than the network at the
    automatic start), the network trains on its own mistakes, reproduces them more confidently and
    the labels run away from the given masks epoch after epoch (figures: docs/results.md, "The drift
    brake"). The drift brake catches this: once the
    relabelled labels' agreement with the given masks (mean Dice) falls more than ``max_drift``
    below its value at the first relabelling, relabelling stops for good and the given masks come
    back (``relabel_stopped`` in the history). Relabelling that corrects coarse masks moves the labels
    away from the masks once and then holds them. ``max_drift=None`` turns the brake off.
    """

    rule: str = "confident"  # confident | uncertainty (the poster's) | both | trimap
    tau: float = 0.5  # confident: flip where another class's mean (TTA) probability exceeds tau
    delta: float = 0.3  # uncertainty: flip where the uncertainty measure exceeds delta
    measure: str = "variance"  # uncertainty measure for delta and for the automatic start
    start: str | int = "auto"  # first relabelling epoch (1-based), or auto
    band: float | None = None  # flips only near mask boundaries (fraction of object radius, or px); None: anywhere
    update: str = "original"  # original: flips applied to the given mask each time; cumulative: to the current labels
    tta: int = 4
    mc: int = 0
    every: int = 1
    max_auto_start: float = 0.35  # auto start no later than this fraction of the epochs
    max_drift: float | None = 0.2  # stop relabelling when labels drift this far (Dice) from the given masks
    select: str = "suspects"  # (evidence="none") suspects: the cases the network contradicts unusually much; all
    evidence: str = "edges"  # edges: relabel only on held-out evidence (relabel_guard); none: the earlier rule

    def __post_init__(self):
        if self.select not in ("suspects", "all"):
            raise ValueError(f"relabel select must be 'suspects' or 'all', not {self.select!r}")
        if self.evidence not in ("edges", "none"):
            raise ValueError(f"relabel evidence must be 'edges' or 'none', not {self.evidence!r}")

    def to_json(self) -> dict:
        return asdict(self)


# What a training config saved before a setting existed trained with, where that differs from
# today's default: such a config reads back (and resumes) as the training it had.
SAVED_BEFORE = {"min_steps": 0}  # always batch_size


@dataclass
class TrainConfig:
    """Settings for training an ensemble (all saved with the models)."""

    folds: int = 5
    repeats: int = 1
    epochs: int = 40
    batch_size: int = 16  # the most cases (3D: patches) per optimiser step; see min_steps
    min_steps: int = 6  # an epoch takes at least this many steps: small folds use smaller batches (batch_for)
    lr: float = 2e-3
    weight_decay: float = 1e-4
    loss: str = "dicece"  # dicece | ce | dice | gce | sce (training_data.LOSSES)
    gce_q: float = 0.7
    arch: str = "unet"
    channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    num_res_units: int = 0
    dropout: float = 0.1
    size: int = 128  # 2D working size
    spacing: tuple[float, ...] | None = None  # 3D working spacing (x, y, z); None = automatic
    window: tuple[float, float] = (-200.0, 300.0)
    patch: tuple[int, ...] = (32, 96, 96)
    patches_per_volume: int = 4
    augment: bool = True
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    threads: int | None = None
    relabel: RelabelConfig | None = None
    reweight: bool = False  # down-weight uncertain pixels in the loss (Mirikharaji et al. 2019)
    mixup: float = 0.0  # MixUp strength (Beta(a, a)); 0 = off
    trusted_weight: float = 1.0  # loss weight of the cases a reviewer vouched for (see iter_train_member)
    pretrain_epochs: int = 0  # first train on the trusted cases alone for this many epochs, then on all

    def to_json(self) -> dict:
        d = asdict(self)
        d["relabel"] = self.relabel.to_json() if self.relabel else None
        return d

    @classmethod
    def from_json(cls, d: dict) -> "TrainConfig":
        kw = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("channels", "spacing", "window", "patch"):
            if kw.get(k) is not None:
                kw[k] = tuple(kw[k])
        if kw.get("relabel"):
            kw["relabel"] = RelabelConfig(**kw["relabel"])
        return cls(**{**SAVED_BEFORE, **kw})


MIN_BATCH = 4  # batch_for never goes under this (nor over batch_size)


def batch_for(samples: int, cfg: TrainConfig) -> int:
    """The mini-batch size of an epoch of ``samples`` cases (3D: patches): ``cfg.batch_size``, or
    smaller so that the epoch takes at least ``cfg.min_steps`` optimiser steps, but not under
    :data:`MIN_BATCH`. Same compute per epoch, more updates: a fold of 26 cases trains in 7 steps
    of 4 rather than 2 of 16 (docs/results.md, "Batch size from the fold's size"); folds of 96
    cases or more keep ``batch_size``."""
    if cfg.min_steps <= 0:
        return cfg.batch_size
    return max(min(cfg.batch_size, MIN_BATCH), min(cfg.batch_size, samples // cfg.min_steps))


@dataclass
class MemberResult:
    name: str
    network: object
    history: list[dict] = field(default_factory=list)
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # final training labels (class indices)
    relabel_start: int | None = None
    json_path: Path | None = None
    relabel_stopped: int | None = None  # epoch the drift brake stopped relabelling
    decision: str | None = None  # why relabelling did or did not act (evidence-guarded relabelling)


# ----------------------------------------------------------------------------------------------
# One member


def iter_train_member(
    items: list[PreparedCase],
    spec: ModelSpec,
    cfg: TrainConfig,
    *,
    name: str = "member",
    out_stem: Path | None = None,
    device=None,
    monitor: list[tuple[PreparedCase, np.ndarray]] | None = None,
    probe: list[PreparedCase] | None = None,
    trusted: Sequence[str] = (),
    init: Path | None = None,
) -> Generator[Progress, None, MemberResult]:
    """Train one network on ``items`` (their ``labels`` are the given masks, as class indices).

    ``out_stem``: where to checkpoint (``.ckpt`` after every epoch) and save the member
    (``.pt`` + ``.json``); an existing checkpoint is resumed. ``monitor``: ``(case, clean labels)``
    pairs scored (foreground Dice of the argmax) after every epoch, for experiments. ``probe``:
    held-out cases with their given masks, never trained on: the evidence relabelling needs
    (:mod:`curator.core.engine.relabel_guard`); without them the member does not relabel.
    ``trusted``: cases whose labels a reviewer vouched for (their given or decided mask): never
    relabelled, weighted ``cfg.trusted_weight`` in the loss, and the only cases of the first
    ``cfg.pretrain_epochs`` epochs (pretrain on the small clean set, fine-tune on all). ``init``: a
    member's ``.json`` whose weights this one starts from (fine-tuning between review rounds).
    """
    run_ = _MemberRun(items, spec, cfg, name=name, out_stem=out_stem, device=device, monitor=monitor, probe=probe,
                      trusted=trusted, init=init)
    if run_.start_epoch:
        yield run_.progress(run_.start_epoch, f"resumed at epoch {run_.start_epoch + 1}")
    for epoch in range(run_.start_epoch, cfg.epochs):
        record = yield from run_.iter_epoch(epoch)
        yield from run_.iter_relabel(epoch, record)
        run_.end_epoch(epoch, record)
        loss = "no trusted cases to train on" if record["loss"] is None else f"loss {record['loss']:.3f}"
        yield run_.progress(epoch + 1, f"epoch {epoch + 1}/{cfg.epochs} done ({loss})")
    return run_.finish()


class _MemberRun:
    """The state of one member's training (:func:`iter_train_member`): network, optimiser, the
    current labels, relabelling and reweighting, checkpoints."""

    def __init__(self, items, spec: ModelSpec, cfg: TrainConfig, *, name, out_stem, device, monitor, probe,
                 trusted, init):
        import torch

        if not items:
            raise TrainError(f"{name}: no training cases")
        self.items, self.spec, self.cfg, self.name, self.out_stem = items, spec, cfg, name, out_stem
        self.monitor, self.init = monitor, init
        self.device = device or resolve_device(cfg.device)
        self.seed = seed = member_seed(cfg.seed, name)
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.net = build_network(spec).to(self.device)
        if init is not None:
            self.net.load_state_dict(load_member(init, device="cpu").network.state_dict())
        self.trusted = {it.case_id for it in items} & set(trusted)
        self.trusted_idx = [j for j, it in enumerate(items) if it.case_id in self.trusted]
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.is3d = spec.spatial_dims == 3
        samples = len(items) * (cfg.patches_per_volume if self.is3d else 1)
        self.batch = batch_for(samples, cfg)
        self.batches_per_epoch = bpe = math.ceil(samples / self.batch)
        self.total_steps = total = max(1, cfg.epochs * bpe)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: min(1.0, (s + 1) / max(1, bpe)) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
        self.original = {it.case_id: it.labels for it in items}
        self.labels = dict(self.original)
        self.history: list[dict] = []
        self.rc = rc = cfg.relabel
        start_setting = (rc or RelabelConfig()).start
        self.relabel_start: int | None = None
        if (rc is not None or cfg.reweight) and start_setting != "auto":
            self.relabel_start = int(start_setting)
        self.start_epoch = 0
        self.stopped = False  # the drift brake stopped relabelling (see RelabelConfig)
        self.ckpt = out_stem.with_suffix(".ckpt") if out_stem is not None else None
        guard_state = self._resume() if self.ckpt is not None and self.ckpt.exists() else {}
        self.amp = bool(cfg.amp and self.device.type == "cuda")
        self.scaler = (torch.amp.GradScaler("cuda", enabled=self.amp and not torch.cuda.is_bf16_supported())
                       if self.amp else None)
        self.reweight_maps: dict[str, np.ndarray] = {}
        self.guard = None
        if rc is not None and rc.evidence == "edges":
            self.guard = RelabelGuard([it for it in items if it.case_id not in self.trusted], probe, spec, rc,
                                      self.device, self.amp, epochs=cfg.epochs, batches_per_epoch=bpe, seed=seed)
            if guard_state:
                self.guard.restore(guard_state)
        self.trusted_weight_on = bool(self.trusted) and cfg.trusted_weight != 1.0

    def progress(self, step_or_epoch: int, message: str, *, batch: int | None = None) -> Progress:
        """Progress at the end of epoch ``step_or_epoch`` (or at ``batch`` of that epoch index)."""
        step = step_or_epoch * self.batches_per_epoch + (batch or 0)
        return Progress(step, self.total_steps, f"{self.name}: {message}")

    def _resume(self) -> dict:
        """Load the checkpoint; returns the relabel guard's saved state."""
        import torch

        state = torch.load(str(self.ckpt), map_location="cpu", weights_only=True)
        self.net.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optim"])
        self.sched.load_state_dict(state["sched"])
        self.start_epoch = int(state["epoch"])
        self.history = json.loads(state["history"])
        if state["relabel_start"] >= 0:
            self.relabel_start = state["relabel_start"]
        for cid, t in state["labels"].items():
            self.labels[cid] = t.numpy()
        self.rng = np.random.default_rng([self.seed, self.start_epoch])
        self.gen.set_state(state["gen"])
        self.stopped = any(h.get("relabel_stopped") for h in self.history)
        return json.loads(state.get("guard", "{}"))

    # -- one epoch -------------------------------------------------------------------------------
    def pool(self, epoch: int) -> list[int]:
        """The cases epoch ``epoch`` trains on: during pretraining the trusted ones (none when fewer
        than two: a batch needs two), else all."""
        if epoch < self.cfg.pretrain_epochs:
            return self.trusted_idx if len(self.trusted_idx) >= 2 else []
        return list(range(len(self.items)))

    def _batches(self, epoch: int):
        cfg = self.cfg
        pool = self.pool(epoch)
        if not pool:
            return
        sub = [self.items[j] for j in pool]
        if self.is3d:
            batches = batches_3d(sub, self.labels, self.batch, cfg.patches_per_volume, self.spec.preprocess.patch,
                                 self.rng)
        else:
            batches = batches_2d(sub, self.batch, self.rng)
        for picks in batches:
            yield [(pool[j], window) for j, window in picks]

    def _tensors(self, picks):
        """Images, labels and loss weights (or None) of one mini-batch, on the device."""
        import torch

        cfg, weigh = self.cfg, bool(self.reweight_maps) or self.trusted_weight_on
        xs, ys, ws = [], [], []
        for j, window in picks:
            cid = self.items[j].case_id
            trusted = cid in self.trusted
            parts = [self.items[j].image, self.labels[cid],
                     pixel_weights(None if trusted else self.reweight_maps.get(cid), self.labels[cid],
                                    cfg.trusted_weight if trusted else 1.0, weigh)]
            if window is not None:
                patch = self.spec.preprocess.patch
                parts = [None if a is None else pad_to(a, patch, lead=1 if k == 0 else 0)[
                    ((slice(None),) if k == 0 else ()) + window] for k, a in enumerate(parts)]
            xs.append(parts[0])
            ys.append(parts[1])
            ws.append(parts[2])
        x = torch.from_numpy(np.stack(xs).astype(np.float32)).to(self.device)
        y = torch.from_numpy(np.stack(ys).astype(np.int64)).to(self.device)
        w = None
        if all(v is not None for v in ws):
            w = torch.from_numpy(np.stack(ws).astype(np.float32)).to(self.device)
        return x, y, w

    def _step(self, x, y, w) -> float:
        """One optimiser step (augmentation, MixUp, loss, backward); returns the loss."""
        import torch

        cfg = self.cfg
        if cfg.augment:
            x, y, w = random_augment(x, y, self.gen, rotate=not self.is3d, weights=w)
        mix = cfg.mixup > 0 and x.shape[0] > 1
        if mix:
            lam = float(self.rng.beta(cfg.mixup, cfg.mixup))
            perm = torch.randperm(x.shape[0], generator=self.gen).to(self.device)
            x = lam * x + (1 - lam) * x[perm]
        with autocast(self.device, self.amp):
            logits = self.net(x).float()
            if mix:
                loss = lam * seg_loss(logits, y, kind=cfg.loss, weights=w, q=cfg.gce_q) + \
                    (1 - lam) * seg_loss(logits, y[perm], kind=cfg.loss, weights=w, q=cfg.gce_q)
            else:
                loss = seg_loss(logits, y, kind=cfg.loss, weights=w, q=cfg.gce_q)
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None and self.scaler.is_enabled():
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            self.opt.step()
        self.sched.step()
        return float(loss.detach())

    def iter_epoch(self, epoch: int) -> Generator[Progress, None, dict]:
        """Train one epoch (with the relabel guard's checks inside it); returns the epoch's record."""
        self.net.train()
        t0 = time.perf_counter()
        losses, mid_epoch = [], None
        guard = self.guard
        for bi, picks in enumerate(self._batches(epoch)):
            losses.append(self._step(*self._tensors(picks)))
            yield self.progress(epoch, f"epoch {epoch + 1}/{self.cfg.epochs} loss {np.mean(losses):.3f}", batch=bi + 1)
            if guard is not None and guard.mid_epoch_check_due(bi + 1, epoch + 1):
                started = guard.try_start(self.net, self.labels, self.original, epoch + 1)
                if started:
                    mid_epoch = {"step": epoch * self.batches_per_epoch + bi + 1, **started,
                                 "evidence": guard.last.to_json()}
                    yield self.progress(epoch, guard.decision, batch=bi + 1)
        record = {"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else None,
                  "seconds": round(time.perf_counter() - t0, 2), "cases": len(self.pool(epoch))}
        if guard is not None and mid_epoch:
            record["started_mid_epoch"] = mid_epoch
        return record

    # -- relabel (and reweight) while training ---------------------------------------------------
    def iter_relabel(self, epoch: int, record: dict) -> Generator[Progress, None, None]:
        cfg, rc, guard = self.cfg, self.rc, self.guard
        rcp = rc or RelabelConfig()
        if guard is not None:
            was_active = guard.active
            record.update(guard.epoch_end(self.net, self.labels, self.original, epoch + 1))
            if guard.active and drifted(self.history + [record], rc.max_drift):
                guard.stop(self.labels, self.original, epoch + 1, "the relabelled labels drifted away from the given masks")
                record["relabel_stopped"] = True
            if was_active and not guard.active or (guard.started == epoch + 1 and not was_active):
                yield self.progress(epoch + 1, guard.decision)
            return
        if not ((rc is not None or cfg.reweight) and (epoch + 1) % max(1, rcp.every) == 0):
            return
        preds = predict_training_items(self.net, self.items, self.spec, rcp, self.device, self.amp)
        record["mean_uncertainty"] = float(np.mean([u.sum() for _, u in preds.values()]))
        if self.relabel_start is None:
            self.relabel_start = auto_start(self.history + [record], cfg.epochs, rcp.max_auto_start)
        active = self.relabel_start is not None and epoch + 1 >= self.relabel_start and not self.stopped
        if active and rc is not None and self._relabel_by_rule(preds, record):
            yield self.progress(epoch + 1, f"relabelling stopped at epoch {epoch + 1}: the labels drifted away from "
                                "the given masks; training goes on with the given masks")
        if active and cfg.reweight:
            # Mirikharaji et al. 2019: trust pixels the model is sure about, down-weight the rest
            self.reweight_maps = {cid: np.clip(1.0 - 2.0 * u / max(len(self.spec.labels) - 1, 1), 0.1, 1.0)
                                  for cid, (_, u) in preds.items()}

    def _relabel_by_rule(self, preds: dict, record: dict) -> bool:
        """The earlier rule (``evidence="none"``): flip where the rule says, on the suspect cases;
        returns True when the drift brake stopped relabelling."""
        rc, original = self.rc, self.original
        candidates = {}
        for it in self.items:
            if it.case_id in self.trusted:
                continue
            mean_p, u = preds[it.case_id]
            base = original[it.case_id] if rc.update == "original" else self.labels[it.case_id]
            flips = flip_candidates(base, mean_p, u, rule=rc.rule, tau=rc.tau, delta=rc.delta, band=rc.band,
                                    image=it.image.astype(np.float32) if rc.rule == "trimap" else None)
            candidates[it.case_id] = apply_flips(base, flips).astype(np.uint8)
        agree = {cid: foreground_dice(new, original[cid]) for cid, new in candidates.items()}
        chosen = set(agree) if rc.select == "all" else suspect_cases(agree)
        flipped = 0
        for cid, new in candidates.items():
            new = new if cid in chosen else original[cid]
            flipped += int(np.count_nonzero(new != self.labels[cid]))
            self.labels[cid] = new
        record["flipped_pixels"] = flipped
        record["relabelled_cases"] = len(chosen)
        # the drift brake watches what relabelling would make of every mask, chosen or not
        record["labels_dice_to_given"] = float(np.mean(list(agree.values())))
        if drifted(self.history + [record], rc.max_drift):
            self.stopped = True
            record["relabel_stopped"] = True
            self.labels = dict(original)
            return True
        return False

    # -- bookkeeping -----------------------------------------------------------------------------
    def end_epoch(self, epoch: int, record: dict) -> None:
        if self.monitor:
            record["monitor_dice"] = monitor_dice(self.net, self.monitor, self.spec, self.device, self.amp)
        self.history.append(record)
        if self.ckpt is not None:
            save_checkpoint(self.ckpt, self.net, self.opt, self.sched, epoch + 1, self.history, self.relabel_start,
                            self.labels, self.original, self.gen, self.guard.state() if self.guard is not None else {})

    def finish(self) -> MemberResult:
        """The trained member (saved beside ``out_stem`` with its record, checkpoint removed)."""
        stop_epoch = next((h["epoch"] for h in self.history if h.get("relabel_stopped")), None)
        guard = self.guard
        relabel_start = guard.started if guard is not None else self.relabel_start
        result = MemberResult(self.name, self.net, self.history, dict(self.labels), relabel_start,
                              relabel_stopped=stop_epoch, decision=guard.decision if guard is not None else None)
        if self.out_stem is not None:
            info = {"config": self.cfg.to_json(), "history": self.history, "relabel_start": relabel_start,
                    "relabel_stopped": stop_epoch, "relabel_decision": result.decision,
                    "initialised_from": Path(self.init).name if self.init is not None else None,
                    "trusted": len(self.trusted), "batch": self.batch, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
            result.json_path = save_member(self.out_stem, self.net, self.spec,
                                           trained_on=[it.case_id for it in self.items], info=info)
            if self.rc is not None:
                save_relabelled(self.out_stem, self.labels, self.original)
            if self.ckpt is not None and self.ckpt.exists():
                self.ckpt.unlink()
        return result


# ----------------------------------------------------------------------------------------------
# The member's network


def build_spec(cfg: TrainConfig, preprocess, label_values: Sequence[int], in_channels: int) -> ModelSpec:
    ndim = preprocess.ndim
    channels = list(cfg.channels)
    strides = [2] * (len(channels) - 1)
    return ModelSpec(
        arch=cfg.arch, spatial_dims=ndim, in_channels=in_channels, labels=list(label_values), channels=channels,
        strides=strides, num_res_units=cfg.num_res_units, norm="batch" if ndim == 2 else "instance",
        dropout=cfg.dropout, preprocess=preprocess,
    )
