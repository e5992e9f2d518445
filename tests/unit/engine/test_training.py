"""Training, relabel-while-training, resume after an interruption, cancellation, model files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from curator.core.jobs import Cancelled, run
from curator.core.engine.models import ModelSpec, build_network, enable_mc_dropout, has_dropout, load_member, save_member
from curator.core.engine.prepare import PreparedCase
from curator.core.engine.preprocess import PreprocessSpec
from curator.core.engine.relabel import apply_flips, boundary_band, flip_candidates, suspect_cases
from curator.core.engine.relabel_guard import auto_start, drifted
from curator.core.engine.training import RelabelConfig, TrainConfig, batch_for, iter_train_member
from curator.core.engine.training_data import LOSSES, make_folds, seg_loss

TINY = dict(channels=(4, 8, 16), batch_size=4, size=32, threads=1, augment=True)


def _items(n=6, size=32, seed=0):
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        lab = np.zeros((size, size), np.uint8)
        r = rng.integers(5, 10)
        cy, cx = rng.integers(r, size - r, 2)
        yy, xx = np.mgrid[:size, :size]
        lab[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = 1
        img = np.stack([lab * 2.0 - 1 + rng.normal(0, 0.3, lab.shape) for _ in range(3)]).astype(np.float16)
        items.append(PreparedCase(f"c{i}", img, lab, (size, size), None))
    return items


def _spec(ndim=2):
    pre = PreprocessSpec("rgb2d", (32, 32)) if ndim == 2 else PreprocessSpec("ct", patch=(8, 16, 16))
    return ModelSpec(spatial_dims=ndim, in_channels=3 if ndim == 2 else 1, channels=[4, 8, 16], strides=[2, 2],
                     num_res_units=0, norm="batch" if ndim == 2 else "instance", preprocess=pre)


def test_folds_are_disjoint_complete_and_deterministic():
    ids = [f"c{i}" for i in range(23)]
    a = make_folds(ids, 5, repeats=2, seed=3)
    b = make_folds(list(reversed(ids)), 5, repeats=2, seed=3)
    assert a == b
    for split in a:
        flat = [c for f in split for c in f]
        assert sorted(flat) == sorted(ids) and len(flat) == len(set(flat))
    assert a[0] != a[1]


def test_losses_are_finite_and_weights_matter():
    logits = torch.randn(2, 2, 8, 8, requires_grad=True)
    y = torch.randint(0, 2, (2, 8, 8))
    for kind in LOSSES:
        loss = seg_loss(logits, y, kind=kind)
        assert torch.isfinite(loss)
        loss.backward()
    w = torch.ones(2, 8, 8)
    w[0] = 0
    assert not torch.isclose(seg_loss(logits, y, kind="ce", weights=w), seg_loss(logits, y, kind="ce"))
    with pytest.raises(ValueError):
        seg_loss(logits, y, kind="nope")


def test_symmetric_cross_entropy_is_ce_plus_bounded_reverse_term():
    # the reverse term -A (1 - p_y) is bounded: a confidently wrong label costs at most A more than
    # cross-entropy alone, which is what makes SCE robust to wrong masks (Wang et al. 2019)
    y = torch.zeros(1, 4, 4, dtype=torch.long)
    right = torch.zeros(1, 2, 4, 4)
    right[:, 0] = 8.0
    wrong = torch.zeros(1, 2, 4, 4)
    wrong[:, 1] = 8.0
    ce_r, ce_w = seg_loss(right, y, kind="ce"), seg_loss(wrong, y, kind="ce")
    sce_r, sce_w = seg_loss(right, y, kind="sce"), seg_loss(wrong, y, kind="sce")
    assert torch.isclose(sce_r, ce_r, atol=1e-2)
    p_y = torch.softmax(wrong, 1)[0, 0, 0, 0]
    assert torch.isclose(sce_w - ce_w, 9.2103 * (1 - p_y), atol=1e-3)


def test_member_save_load_weights_only_and_hash(tmp_path):
    spec = _spec()
    net = build_network(spec)
    assert has_dropout(net)
    js = save_member(tmp_path / "m", net, spec, trained_on=["a", "b"])
    m = load_member(js)
    assert m.out_of_fold_for("c") and not m.out_of_fold_for("a")
    doc = json.loads(js.read_text())
    assert len(doc["sha256"]) == 64 and doc["spec"]["labels"] == [0, 1]
    x = torch.randn(2, 3, 32, 32)
    net.eval()
    torch.testing.assert_close(m.network(x), net(x))
    (tmp_path / "m.pt").write_bytes((tmp_path / "m.pt").read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ValueError, match="checksum"):
        load_member(js)


def test_mc_dropout_makes_passes_differ_but_not_batchnorm_stats():
    net = build_network(_spec())
    x = torch.randn(2, 3, 32, 32)
    enable_mc_dropout(net, True)
    with torch.no_grad():
        a, b = net(x), net(x)
    assert not torch.allclose(a, b)
    assert all(not m.training for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    enable_mc_dropout(net, False)
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(x))


def test_training_learns_a_trivial_task():
    items = _items(8)
    cfg = TrainConfig(epochs=15, lr=5e-3, **TINY)
    res = run(iter_train_member(items, _spec(), cfg, monitor=[(it, it.labels) for it in items[:3]]))
    assert res.history[-1]["monitor_dice"] > 0.8
    assert res.history[-1]["loss"] < res.history[0]["loss"]


def test_small_folds_train_in_smaller_batches_so_an_epoch_has_min_steps(tmp_path):
    cfg = TrainConfig()
    assert (cfg.batch_size, cfg.min_steps) == (16, 6)
    assert [batch_for(n, cfg) for n in (10, 26, 48, 60, 95, 96, 1600)] == [4, 4, 8, 10, 15, 16, 16]
    assert batch_for(26, TrainConfig(min_steps=0)) == 16  # off: batch_size throughout
    assert batch_for(26, TrainConfig(batch_size=2)) == 2  # never above batch_size
    # a saved config without the option (trained before it existed) reads back as off
    old = {k: v for k, v in TrainConfig().to_json().items() if k != "min_steps"}
    assert TrainConfig.from_json(old).min_steps == 0
    items = _items(12)
    cfg = TrainConfig(epochs=1, **{**TINY, "batch_size": 8})
    events = []
    run(iter_train_member(items, _spec(), cfg, name="m", out_stem=tmp_path / "m"), events.append)
    assert events[-1].total == 3  # 12 cases, batches of 4 (12 // 6 = 2, raised to the floor of 4)
    assert json.loads((tmp_path / "m.json").read_text())["info"]["batch"] == 4


def test_resume_after_interruption_continues_from_the_last_epoch(tmp_path):
    items = _items(6)
    cfg = TrainConfig(epochs=4, **TINY)
    stem = tmp_path / "member"
    job = iter_train_member(items, _spec(), cfg, name="m", out_stem=stem)
    for ev in job:  # stop in the middle of epoch 3, as a crash would
        if "epoch 3/4" in ev.message and "done" not in ev.message:
            break
    job.close()
    assert stem.with_suffix(".ckpt").exists() and not stem.with_suffix(".json").exists()
    events = []
    res = run(iter_train_member(items, _spec(), cfg, name="m", out_stem=stem), events.append)
    assert "resumed at epoch 3" in events[0].message
    assert [h["epoch"] for h in res.history] == [1, 2, 3, 4]
    assert stem.with_suffix(".json").exists() and not stem.with_suffix(".ckpt").exists()


def test_cancel_takes_effect_within_one_step():
    items = _items(8)
    cfg = TrainConfig(epochs=50, **TINY)
    seen = []

    def stop():
        return len(seen) >= 3

    with pytest.raises(Cancelled):
        run(iter_train_member(items, _spec(), cfg), seen.append, should_stop=stop)
    assert len(seen) == 3  # the job stopped at the step it was asked to


def test_relabel_while_training_records_flips_and_keeps_originals(tmp_path):
    items = _items(6)
    originals = {it.case_id: it.labels.copy() for it in items}
    # damage the training labels: erase half of every object
    noisy = []
    for it in items:
        lab = it.labels.copy()
        lab[:, : lab.shape[1] // 2] = 0
        noisy.append(PreparedCase(it.case_id, it.image, lab, it.orig_shape, None))
    cfg = TrainConfig(epochs=6, lr=5e-3, relabel=RelabelConfig(start=3, tau=0.6, band=None, evidence="none"), **TINY)
    res = run(iter_train_member(noisy, _spec(), cfg, name="m", out_stem=tmp_path / "m"))
    assert res.relabel_start == 3
    assert "flipped_pixels" in res.history[-1] and "flipped_pixels" not in res.history[0]
    assert (tmp_path / "m.relabelled.json").exists()
    for it in items:
        np.testing.assert_array_equal(it.labels, originals[it.case_id])  # inputs untouched


def _erasing_relabeller(monkeypatch, growth: float, n_items: int):
    """Replace the flip rule by one that erases a fraction of each object: the same fraction every
    epoch (growth 0: a correction that holds) or one growing by ``growth`` per epoch (a relabeller
    feeding on itself)."""
    import curator.core.engine.training as training  # the rule as training calls it

    calls = {"n": 0}

    def flips(index, mean_prob, uncertainty=None, **kw):
        epoch = calls["n"] // n_items  # called once per training case per epoch
        calls["n"] += 1
        frac = min(0.95, 0.3 + growth * epoch)
        out = np.full(index.shape, -1, np.int64)
        rows = np.nonzero(index.any(1))[0]
        if rows.size:
            cut = rows[: max(1, int(round(frac * rows.size)))]
            out[cut] = np.where(index[cut] > 0, 0, -1)
        return out

    monkeypatch.setattr(training, "flip_candidates", flips)
    return calls


@pytest.mark.parametrize("growth,stops", [(0.0, False), (0.25, True)])
def test_drift_brake_stops_runaway_relabelling_and_restores_the_given_masks(monkeypatch, growth, stops):
    items = _items(6)
    _erasing_relabeller(monkeypatch, growth, len(items))
    cfg = TrainConfig(epochs=7, relabel=RelabelConfig(start=2, max_drift=0.2, evidence="none"), **TINY)
    events = []
    res = run(iter_train_member(items, _spec(), cfg, name="m"), events.append)
    agreement = [h["labels_dice_to_given"] for h in res.history if "labels_dice_to_given" in h]
    if not stops:
        assert res.relabel_stopped is None and len(agreement) == 6
        assert max(agreement) - min(agreement) < 0.05  # a correction that holds still
        return
    assert res.relabel_stopped is not None and 3 <= res.relabel_stopped < 7
    assert agreement[0] - agreement[-1] > 0.2 and len(agreement) == res.relabel_stopped - 1
    assert any("relabelling stopped" in e.message for e in events)
    for it in items:  # training went on with the given masks
        np.testing.assert_array_equal(res.labels[it.case_id], it.labels)
    assert all("labels_dice_to_given" not in h for h in res.history if h["epoch"] > res.relabel_stopped)


def test_suspect_cases_split_only_a_minority_the_network_contradicts():
    rng = np.random.default_rng(0)
    good = {f"g{i}": float(np.clip(rng.normal(0.9, 0.03), 0, 1)) for i in range(70)}
    bad = {f"b{i}": float(rng.uniform(0.35, 0.75)) for i in range(30)}
    found = suspect_cases({**good, **bad})
    assert len(found & set(bad)) >= 28 and len(found & set(good)) <= 3
    # not supported: too few cases, one population, or most masks contradicted
    few = dict(list(good.items())[:5]) | dict(list(bad.items())[:3])
    assert suspect_cases(few) == set(few)
    one = {f"c{i}": float(np.clip(rng.normal(0.6, 0.08), 0, 1)) for i in range(100)}
    assert suspect_cases(one) == set(one)
    most = dict(list(good.items())[:20]) | {f"m{i}": float(rng.uniform(0.3, 0.7)) for i in range(60)}
    assert suspect_cases(most) == set(most)
    assert suspect_cases({f"c{i}": 0.9 for i in range(20)}) == {f"c{i}" for i in range(20)}
    # a perfect agreement is never a suspect, however wide the low component
    assert "top" not in suspect_cases({**good, **bad, "top": 1.0})


@pytest.mark.parametrize("select", ["suspects", "all"])
def test_relabelling_leaves_masks_the_network_agrees_with(monkeypatch, select):
    """Only the cases whose masks the network contradicts unusually much are relabelled; the
    others keep their given (careful) masks instead of the network's own outline."""
    import curator.core.engine.training as training  # the rule as training calls it

    items = _items(14, seed=3)
    wrong = {it.case_id for it in items[:4]}
    keys = {it.labels.tobytes(): it.case_id for it in items}

    def flips(index, mean_prob, uncertainty=None, **kw):  # wrong masks: most rows contradicted
        out = np.full(index.shape, -1, np.int64)
        rows = np.nonzero(index.any(1))[0]
        frac = 0.6 if keys.get(np.asarray(index, np.uint8).tobytes()) in wrong else 0.1
        cut = rows[: max(1, int(round(frac * rows.size)))]
        out[cut] = np.where(index[cut] > 0, 0, -1)
        return out

    monkeypatch.setattr(training, "flip_candidates", flips)
    cfg = TrainConfig(epochs=3, relabel=RelabelConfig(start=2, select=select, evidence="none"), **TINY)
    res = run(iter_train_member(items, _spec(), cfg, name="m"))
    changed = {it.case_id for it in items if not np.array_equal(res.labels[it.case_id], it.labels)}
    if select == "all":
        assert changed == {it.case_id for it in items} and res.history[-1]["relabelled_cases"] == 14
    else:
        assert changed == wrong and res.history[-1]["relabelled_cases"] == 4
    # the drift brake watches every case's candidate labels, whichever were applied
    assert res.history[-1]["labels_dice_to_given"] < 0.9


# -- relabelling on evidence (curator.core.engine.relabel_guard) ---------------------------------------


def _noisy(items, how):
    """Training copies whose masks are damaged: ``shift`` moves the object off its edges."""
    out = []
    for it in items:
        lab = np.roll(it.labels, 3, axis=1) if how == "shift" else it.labels
        out.append(PreparedCase(it.case_id, it.image, lab.astype(np.uint8), it.orig_shape, None))
    return out


def _oracle(monkeypatch, truth: dict, *, wrong_everywhere: bool = False):
    """Replace the member's predictions by a network that draws ``truth`` (the object on the
    image), or, with ``wrong_everywhere``, a square blob in the flat background."""
    from curator.core.engine.relabel_guard import RelabelGuard

    def predict(self, net, items, tta):
        out = {}
        for it in items:
            lab = truth[it.case_id].copy()
            if wrong_everywhere:
                lab = np.zeros_like(lab)
                lab[2:14, 18:30] = 1
            p = np.stack([1.0 - lab, lab]).astype(np.float32)
            out[it.case_id] = 0.02 + 0.96 * p
        return out

    monkeypatch.setattr(RelabelGuard, "_predict", predict)


def test_relabelling_starts_only_on_held_out_evidence_and_relabels_the_wrong_masks(monkeypatch):
    items = _items(18, seed=1)
    truth = {it.case_id: it.labels for it in items}
    wrong = {it.case_id for it in items[:5]}
    train = _noisy(items[:12], "shift")
    train = [t if t.case_id in wrong else items[i] for i, t in enumerate(train)]
    probe = _noisy(items[12:], "shift")  # held out, masks as wrong as the training ones
    _oracle(monkeypatch, truth)
    cfg = TrainConfig(epochs=3, relabel=RelabelConfig(), **TINY)
    res = run(iter_train_member(train, _spec(), cfg, name="m", probe=probe))
    assert res.relabel_start == 1 and "relabelled from epoch 1" in res.decision
    ev = res.history[0]["evidence"]
    assert ev["holds"] and ev["disagreeing"] == 6 and ev["network_better"] == 6  # (4 of 4 would not do: p 0.06)
    changed = {t.case_id for t in train if not np.array_equal(res.labels[t.case_id], t.labels)}
    assert changed == wrong  # the shifted masks, and only those
    for cid in wrong:
        np.testing.assert_array_equal(res.labels[cid], truth[cid])


def test_no_relabelling_without_evidence_and_the_training_is_that_of_no_relabelling(monkeypatch):
    items = _items(12, seed=2)
    truth = {it.case_id: it.labels for it in items}
    _oracle(monkeypatch, truth, wrong_everywhere=True)  # a network that paints background into every mask
    cfg = TrainConfig(epochs=3, seed=4, relabel=RelabelConfig(), **TINY)
    res = run(iter_train_member(items[:8], _spec(), cfg, name="m", probe=items[8:]))
    assert res.relabel_start is None and res.decision.startswith("not relabelled")
    assert not res.history[0]["evidence"]["holds"]
    for it in items[:8]:
        np.testing.assert_array_equal(res.labels[it.case_id], it.labels)
    plain = run(iter_train_member(items[:8], _spec(), TrainConfig(epochs=3, seed=4, relabel=None, **TINY), name="m"))
    for a, b in zip(res.network.state_dict().values(), plain.network.state_dict().values()):
        torch.testing.assert_close(a, b)  # the evidence checks did not disturb the training
    # no held-out cases: nothing to measure against, so nothing is relabelled, and it says so
    none = run(iter_train_member(items[:8], _spec(), cfg, name="m"))
    assert none.relabel_start is None and "no held-out cases" in none.decision


def test_a_network_that_outlines_another_object_is_no_evidence(monkeypatch):
    """Two bright discs per image: the masks outline disc A (a little off), the network draws disc
    B, whose outline lies on strong edges. That is another object, not a better outline of this one."""
    from curator.core.engine.relabel_guard import RelabelGuard

    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:32, :32]
    items, other = [], {}
    for i in range(14):
        a = ((yy - 10) ** 2 + (xx - 10) ** 2) < 36
        b = ((yy - 22) ** 2 + (xx - 22) ** 2) < 36
        img = np.stack([(a | b) * 2.0 - 1 + rng.normal(0, 0.2, a.shape) for _ in range(3)]).astype(np.float16)
        items.append(PreparedCase(f"c{i}", img, np.roll(a, 2, axis=1).astype(np.uint8), (32, 32), None))
        other[f"c{i}"] = b.astype(np.uint8)

    def predict(self, net, its, tta):
        return {it.case_id: np.stack([1.0 - other[it.case_id], other[it.case_id]]).astype(np.float32) * 0.96 + 0.02
                for it in its}

    monkeypatch.setattr(RelabelGuard, "_predict", predict)
    cfg = TrainConfig(epochs=3, relabel=RelabelConfig(), **TINY)
    res = run(iter_train_member(items[:8], _spec(), cfg, name="m", probe=items[8:]))
    ev = res.history[0]["evidence"]
    assert ev["disagreeing"] == 6 and ev["network_better"] == 0 and not ev["holds"]
    assert res.relabel_start is None


def test_large_datasets_are_checked_within_the_first_epoch(monkeypatch):
    from curator.core.engine.relabel_guard import RelabelGuard

    items = _items(10, seed=5)
    truth = {it.case_id: it.labels for it in items}
    train = _noisy(items[:4], "shift") * 30  # 120 cases, 30 steps an epoch at batch 4
    train = [PreparedCase(f"{t.case_id}-{i}", t.image, t.labels, t.orig_shape, None) for i, t in enumerate(train)]
    truth.update({t.case_id: truth[t.case_id.split("-")[0]] for t in train})
    _oracle(monkeypatch, truth)
    monkeypatch.setattr(RelabelGuard, "__init__", _with_check_steps(RelabelGuard.__init__, 10))
    cfg = TrainConfig(epochs=1, relabel=RelabelConfig(), **TINY)
    events = []
    res = run(iter_train_member(train, _spec(), cfg, name="m", probe=_noisy(items[4:], "shift")), events.append)
    assert res.history[0]["started_mid_epoch"]["step"] == 10
    assert any("relabelled from epoch 1" in e.message for e in events)


def _with_check_steps(init, n):
    def wrapped(self, *a, **kw):
        kw["check_steps"] = n
        init(self, *a, **kw)
    return wrapped


def test_drift_brake_rule():
    hist = [{"labels_dice_to_given": a} for a in (0.56, 0.47, 0.47, 0.45)]  # moved once, then held
    assert not drifted(hist, 0.2)
    hist = [{"labels_dice_to_given": a} for a in (0.63, 0.44)]
    assert not drifted(hist, 0.2) and drifted(hist + [{"labels_dice_to_given": 0.32}], 0.2)
    assert not drifted(hist + [{"labels_dice_to_given": 0.1}], None)  # brake off
    assert not drifted([{"epoch": 1}, {"labels_dice_to_given": 0.1}], 0.2)  # one relabelling: nothing to compare


def test_auto_start_is_the_minimum_of_relative_change():
    hist = [{"mean_uncertainty": u} for u in (100, 60, 50, 48, 47.5, 47.4)]
    # relative changes: .4 (e2), .167 (e3), .04 (e4), .0104 (e5), .0021 (e6): still falling -> none yet
    assert auto_start(hist, epochs=100, max_fraction=0.3) is None
    hist.append({"mean_uncertainty": 49.0})  # change rises at epoch 7: minimum was epoch 6
    assert auto_start(hist, epochs=100, max_fraction=0.3) == 6
    falling = [{"mean_uncertainty": u} for u in (10, 5, 3, 2)]  # relative change .5, .4, .33: no minimum yet
    assert auto_start(falling[:2], epochs=10, max_fraction=0.3) is None
    assert auto_start(falling, epochs=10, max_fraction=0.3) == 3  # capped at 30 % of 10 epochs


def test_relabel_rules():
    index = np.zeros((10, 10), np.int64)
    index[3:7, 3:7] = 1
    p = np.zeros((2, 10, 10), np.float32)
    p[1] = 0.05
    p[1, 2:8, 2:8] = 0.95  # the model sees a bigger object
    p[0] = 1 - p[1]
    flips = flip_candidates(index, p, rule="confident", tau=0.8)
    new = apply_flips(index, flips)
    assert new[2:8, 2:8].all() and new.sum() == 36
    band = boundary_band(index, 1.0)
    assert band[3, 3] and band[2, 2] and not band[0, 0]
    u = 2 * p[1] * p[0]
    poster = flip_candidates(index, p, u, rule="uncertainty", delta=0.05)
    assert (poster >= 0).sum() > 0
    with pytest.raises(ValueError):
        flip_candidates(index, p, rule="uncertainty")


def test_3d_training_with_patches_and_sliding_window_prediction():
    from curator.core.engine.inference import iter_predict

    rng = np.random.default_rng(0)
    items = []
    for i in range(3):
        lab = np.zeros((12, 24, 24), np.uint8)
        lab[3:9, 6:18, 6:18] = 1
        img = (lab[None] * 0.8 + rng.normal(0, 0.1, (1, 12, 24, 24))).astype(np.float16)
        items.append(PreparedCase(f"v{i}", img, lab, lab.shape, (1.0, 1.0, 1.0)))
    cfg = TrainConfig(epochs=2, batch_size=2, patches_per_volume=2, channels=(4, 8, 16), threads=1)
    res = run(iter_train_member(items, _spec(3), cfg))
    x = torch.from_numpy(items[0].image.astype(np.float32))
    events = []
    acc = run(iter_predict([(res.network, (8, 16, 16))], x, tta=2), events.append)
    out = acc.result()
    assert tuple(out["mean_prob"].shape) == (2, 12, 24, 24) and acc.n == 2
    assert any(e.message == "patches" for e in events)  # cancellable between patches


# -- cases a reviewer vouched for (issue 18) ---------------------------------------------------


def _to(target, index):
    """Flips (-1: none) that turn ``index`` into ``target``."""
    return np.where(target != index, target.astype(np.int64), -1)


@pytest.mark.parametrize("evidence", ["edges", "none"])
def test_trusted_cases_are_never_relabelled(monkeypatch, evidence):
    """Whatever the relabelling rule decides about the other masks, a trusted case trains on its
    own labels to the end: the evidence-guarded rule and the earlier one alike."""
    import curator.core.engine.training as training

    items = _items(18, seed=1)
    truth = {it.case_id: it.labels for it in items}
    train = _noisy(items[:12], "shift")  # every training mask off its object
    probe = _noisy(items[12:], "shift")
    trusted = {train[0].case_id, train[1].case_id}
    _oracle(monkeypatch, truth)
    monkeypatch.setattr(training, "flip_candidates",  # the earlier rule: flip every pixel to the truth
                        lambda index, mean_prob, u=None, **kw: _to(truth[keys[np.asarray(index, np.uint8).tobytes()]],
                                                                   index))
    keys = {t.labels.tobytes(): t.case_id for t in train}
    rc = RelabelConfig(start=1, select="all", evidence=evidence)
    res = run(iter_train_member(train, _spec(), TrainConfig(epochs=2, relabel=rc, **TINY), name="m",
                                probe=probe, trusted=trusted))
    changed = {t.case_id for t in train if not np.array_equal(res.labels[t.case_id], t.labels)}
    assert changed == {t.case_id for t in train} - trusted


def test_pretraining_uses_only_the_trusted_cases_and_trusted_cases_weigh_more(monkeypatch):
    import curator.core.engine.training as training

    items = _items(8, seed=5)
    trusted = {"c0", "c1", "c2"}
    seen, seen_w = [], []
    real = training.seg_loss

    def spy(logits, target, *, weights=None, **kw):
        seen.append(target.shape[0])
        seen_w.append(None if weights is None else sorted({round(float(v), 3) for v in weights.unique()}))
        return real(logits, target, weights=weights, **kw)

    monkeypatch.setattr(training, "seg_loss", spy)
    cfg = TrainConfig(epochs=2, pretrain_epochs=1, trusted_weight=3.0, augment=False,
                      **{k: v for k, v in TINY.items() if k != "augment"})
    res = run(iter_train_member(items, _spec(), cfg, name="m", trusted=trusted))
    assert len(res.history) == 2
    # epoch 1: only the three trusted cases (one batch of 3 under batch size 4); epoch 2: all 8
    assert seen[0] == 3 and sum(seen[1:]) == 8
    assert seen_w[0] == [3.0]  # every case of the pretraining batch is trusted
    assert any(w is not None and 1.0 in w and 3.0 in w for w in seen_w[1:])


def test_a_member_can_start_from_another_members_weights(tmp_path):
    items = _items(6, seed=2)
    cfg = TrainConfig(epochs=1, **TINY)
    first = run(iter_train_member(items, _spec(), cfg, name="a", out_stem=tmp_path / "a"))
    zero = TrainConfig(epochs=1, lr=0.0, **TINY)  # no learning: the weights stay the ones it started from
    second = run(iter_train_member(items, _spec(), zero, name="b", init=first.json_path))
    a, b = first.network.state_dict(), second.network.state_dict()
    for k in a:
        if "running" in k or "num_batches" in k:  # BatchNorm statistics still move in train mode
            continue
        torch.testing.assert_close(a[k].cpu(), b[k].cpu())


def test_pretraining_without_two_trusted_cases_trains_nothing_in_those_epochs_and_says_so():
    items = _items(6, seed=6)
    cfg = TrainConfig(epochs=2, pretrain_epochs=1, **TINY)
    res = run(iter_train_member(items, _spec(), cfg, name="m", trusted={"c0"}))
    assert res.history[0]["cases"] == 0 and res.history[0]["loss"] is None  # never the other cases instead
    assert res.history[1]["cases"] == 6 and res.history[1]["loss"] is not None
