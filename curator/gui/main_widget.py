"""The Curator panel: queue, review controls and job bar, wired to a controller and the layers.

Used docked in the desktop app and, through the npe2 manifest, in any napari viewer. Keyboard
shortcuts are bound on the viewer (when the canvas has the focus) and on the panel (when the panel
has it); both call the same handlers. Errors show in the panel, as a napari notification and in
the log (``<user data>/logs/curator.log``); a bad file never takes the app down.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtGui import QKeySequence
from qtpy.QtWidgets import QInputDialog, QLabel, QScrollArea, QShortcut, QSplitter, QToolButton, QVBoxLayout, QWidget

from curator.core.project.rounds import describe_rounds
from curator.gui.colours import MEASURES
from curator.gui.commands import PanelCommands
from curator.gui.controller import ReviewController
from curator.gui.layers import CaseLayers
from curator.gui.widgets.jobbar import JobBar
from curator.gui.widgets.queue import QueueWidget
from curator.gui.widgets.review import ReviewPanel
from curator.gui.workers import warm_up

__all__ = ["CuratorWidget", "CuratorPluginWidget", "log"]

log = logging.getLogger("mask_curator")


def _setup_log() -> None:
    from curator.gui.settings import user_dir

    if log.handlers:
        return
    try:
        folder = user_dir("data") / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(folder / "curator.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    except OSError:
        pass  # a read-only home: messages still show in the window


class CuratorWidget(PanelCommands, QWidget):
    """The dock panel. ``CuratorWidget(viewer)``; ``widget.controller`` holds the session."""

    def __init__(self, viewer, parent=None, *, controller: ReviewController | None = None):
        super().__init__(parent)
        _setup_log()
        # the ML stack loads in the background once the window is up (started before the first
        # paint, it delayed it by about a second)
        QTimer.singleShot(1000, warm_up)
        # napari hands plugin widgets a proxy of the viewer that wraps every layer anew on each
        # access; the panel keeps the viewer itself, so that it can hold its layers by identity
        viewer = getattr(viewer, "__wrapped__", viewer)
        self.viewer = viewer
        self.controller = controller or ReviewController(self)
        self.layers = CaseLayers(viewer)
        self.last_slider_ms = 0.0
        self.last_switch_ms = 0.0
        self._working_hooked = None
        self._build_widgets()
        self.actions = self._build_actions()
        self.menu_button.setMenu(self._build_menu())
        self._follow_controller()
        self._connect_panel()
        self._make_timers()
        self._bind_keys()
        viewer.mouse_drag_callbacks.append(self._on_click)

    def _build_widgets(self) -> None:
        """Header, ☰ button, job bar, messages and queue above; the review panel below (scrolls)."""
        self.header = QLabel("Open a dataset or a project (File menu, or the ☰ button).")
        self.header.setWordWrap(True)
        self.menu_button = QToolButton()
        self.menu_button.setText("☰ Mask Curator")
        self.menu_button.setPopupMode(QToolButton.InstantPopup)
        self.menu_button.setToolTip("Open, batch relabel, export, settings and help")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.jobbar = JobBar(self.controller.jobs)
        self.queue = QueueWidget()
        self.panel = ReviewPanel()
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(self.menu_button, alignment=Qt.AlignLeft)
        tl.addWidget(self.header)
        tl.addWidget(self.jobbar)
        tl.addWidget(self.message)
        tl.addWidget(self.queue, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.panel)
        split = QSplitter(Qt.Vertical)
        split.addWidget(top)
        split.addWidget(scroll)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([320, 580])  # the review panel needs its display controls above the fold
        self.queue.table.setMinimumHeight(160)
        lay = QVBoxLayout(self)
        lay.addWidget(split)
        self.setMinimumWidth(430)

    def _follow_controller(self) -> None:
        """The panel, the queue and the layers follow the controller's signals."""
        c = self.controller
        c.queue_changed.connect(self._refresh_queue)
        c.case_loaded.connect(self._show_case)
        c.proposal_changed.connect(self._show_proposal)
        c.working_changed.connect(self._working_changed)
        c.selection_changed.connect(self._selection_changed)
        c.history_changed.connect(lambda: self.panel.set_history(c.can_undo(), c.can_redo()))
        c.decision_changed.connect(self._decision_changed)
        c.status.connect(self._status)
        c.error.connect(self._error)
        c.project_opened.connect(self._project_opened)
        self.queue.case_selected.connect(self._goto)
        self.queue.filter_changed.connect(c.set_filter)

    def _connect_panel(self) -> None:
        """The review panel's buttons and controls act on the controller and the layers."""
        c, p = self.controller, self.panel
        p.accept_button.clicked.connect(c.accept)
        p.keep_button.clicked.connect(c.keep)
        p.save_button.clicked.connect(self._save_edit)
        p.exclude_button.clicked.connect(c.exclude)
        p.flag_button.clicked.connect(c.flag)
        p.reopen_button.clicked.connect(c.reopen)
        p.next_button.clicked.connect(self.next_case)
        p.prev_button.clicked.connect(self.previous_case)
        p.note_entered.connect(c.set_note)
        p.undo_button.clicked.connect(c.undo)
        p.redo_button.clicked.connect(c.redo)
        p.islands_button.clicked.connect(lambda: c.apply_helper("islands", min_size=self._island_size()))
        p.holes_button.clicked.connect(lambda: c.apply_helper("holes"))
        p.smooth_button.clicked.connect(lambda: c.apply_helper("smooth", radius=2.0))
        p.between_button.clicked.connect(lambda: c.apply_helper("between"))
        p.region_toggled.connect(c.toggle_region)
        p.threshold_changed.connect(self._threshold_moved)
        p.measure.currentIndexChanged.connect(self._measure_chosen)
        p.colormap.currentTextChanged.connect(self.layers.set_colormap)
        p.opacity.valueChanged.connect(lambda v: self.layers.set_heat_opacity(v / 100))
        p.ct_preset.currentTextChanged.connect(self.layers.set_ct_preset)
        p.view3d_button.clicked.connect(self.layers.toggle_3d)
        p.set_threshold_mode(c.threshold_name)
        p.set_tau(c.threshold)

    def _make_timers(self) -> None:
        """The slider's recompute waits for a pause (40 ms); painting is kept as a draft 3 s after."""
        self._slider_timer = QTimer(self)
        self._slider_timer.setSingleShot(True)
        self._slider_timer.setInterval(40)
        self._slider_timer.timeout.connect(self._apply_threshold)
        self._pending_tau = None
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(3000)
        self._autosave.timeout.connect(self.controller.autosave)

    # -- keys ------------------------------------------------------------------------------------------
    def _handlers(self) -> dict:
        c = self.controller
        return {
            "A": c.accept, "K": c.keep, "Control-S": self._save_edit, "D": c.exclude, "G": c.flag, "R": c.reopen,
            "T": self.ask_note, "N": self.next_case, "Shift-N": self.previous_case, "Control-Z": c.undo,
            "Control-Shift-Z": c.redo, "I": lambda: c.apply_helper("islands", min_size=self._island_size()),
            "H": lambda: c.apply_helper("holes"), "Shift-S": lambda: c.apply_helper("smooth", radius=2.0),
            "Shift-F": lambda: c.apply_helper("between"), "U": self.cycle_measure,
            "PageUp": lambda: self._nudge_threshold(0.05), "PageDown": lambda: self._nudge_threshold(-0.05),
            "Shift-T": c.toggle_trust, "F1": self.show_shortcuts,
        }

    def _bind_keys(self) -> None:
        for key, fn in self._handlers().items():
            self.viewer.bind_key(key, lambda viewer, fn=fn: fn(), overwrite=True)
            seq = key.replace("Control", "Ctrl").replace("-", "+")
            sc = QShortcut(QKeySequence(seq), self)
            sc.setContext(Qt.WidgetWithChildrenShortcut)
            sc.activated.connect(fn)

    # -- handlers ----------------------------------------------------------------------------------------
    def _goto(self, case_id: str) -> None:
        t0 = time.perf_counter()
        if self.controller.goto(case_id):
            self.last_switch_ms = 1000 * (time.perf_counter() - t0)

    def next_case(self) -> None:
        t0 = time.perf_counter()
        self.controller.next()
        self.last_switch_ms = 1000 * (time.perf_counter() - t0)

    def previous_case(self) -> None:
        self.controller.previous()

    def _refresh_queue(self) -> None:
        c = self.controller
        self.queue.set_rows(c.rows, c.case.id if c.case else None)
        if c.store is not None:
            rows = c.store.queue() if c.filter else c.rows
            fixed = sum(1 for r in rows if r["decision"] in ("accepted", "edited"))
            excluded = sum(1 for r in rows if r["decision"] == "excluded")
            rescored = describe_rounds(c.project) if c.project is not None else []
            text = self.queue.count.text() + (f"  ·  round {len(rescored)}" if rescored else "")
            text += f"  ·  {fixed} fixed" + (f"  ·  {excluded} excluded" if excluded else "")
            tip = "fixed: accepted or edited masks; excluded cases are left out of the export, not fixed"
            if rescored:
                tip += "\n" + "\n".join(rescored)
            rounds = c.store.review_rounds(10)
            if rounds:
                last = rounds[-1]
                note = " — plateau: the queue has little left to find" if last.plateau else ""
                tip += (f"\nlast round: {last.errors_found} of {last.reviewed} reviewed masks were wrong (accepted, "
                        f"edited or excluded); {last.cumulative_errors} found so far{note}")
                text += "  ·  plateau" if last.plateau else ""
            self.queue.count.setText(text)
            self.queue.count.setToolTip(tip)

    def _row(self, case_id: str) -> dict | None:
        return next((r for r in self.controller.rows if r["case_id"] == case_id), None)

    def _show_case(self, view) -> None:
        c = self.controller
        names = dict(c.dataset.label_names) if c.dataset is not None else {}
        names.update({int(k): v for k, v in (view.given.meta.get("segments") or {}).items()})
        self.layers.show(view, c.working, editable=not c.locked, label_names=names)
        self._hook_working_layer()
        self.panel.show_case(view.case_id, view.decision, self._row(view.case_id), view.image.ndim)
        self.panel.set_threshold_mode(c.threshold_name)
        self.panel.set_tau(c.threshold)
        present = sorted({int(v) for v in np.unique(view.given.array) if v} | set(names))
        self.panel.show_labels({v: names.get(v, "") for v in present})
        self.panel.set_measure_unit(self.layers.measure)
        self.queue.select(view.case_id)
        if view.failed:
            self._error(f"{view.case_id}: {view.failed}")
        elif view.maps is None:
            self._status(f"{view.case_id}: no uncertainty maps yet (Tools → Batch relabel)")
        else:  # a message about the case left behind goes with it
            self.message.setStyleSheet("")
            self.message.setText("")

    def _show_proposal(self, proposal) -> None:
        self.layers.set_proposal(proposal, self.controller.accepted_regions)
        self._show_regions()

    def _selection_changed(self) -> None:
        c = self.controller
        self.layers.set_proposal(c.preview, c.accepted_regions)
        self.panel.check_regions(c.accepted_regions)

    def _working_changed(self) -> None:
        c = self.controller
        self.layers.set_working(c.working, editable=not c.locked)

    def _show_regions(self) -> None:
        c = self.controller
        self.panel.show_regions(c.region_infos(), c.accepted_regions, c.region_gate,
                                withheld=c.withheld, trust=c.trust)

    def _decision_changed(self, case_id: str, d: dict) -> None:
        c = self.controller
        if c.view is not None and c.view.case_id == case_id:
            self.panel.show_case(case_id, d, self._row(case_id), c.view.image.ndim)
            self.layers.set_working(c.working, editable=not c.locked)
            self.panel.set_history(c.can_undo(), c.can_redo())
            self._show_proposal(c.preview)

    def _hook_working_layer(self) -> None:
        layer = self.layers.layer("working")
        if layer is None or layer is self._working_hooked:
            return
        layer.events.paint.connect(self._painted)
        layer.bind_key("Control-Z", lambda _l: self.controller.undo(), overwrite=True)
        layer.bind_key("Control-Shift-Z", lambda _l: self.controller.redo(), overwrite=True)
        self._working_hooked = layer

    def _painted(self, event=None) -> None:
        # napari announces a stroke before it writes it: read the layer once the write is done
        QTimer.singleShot(0, self._sync_painted)

    def _sync_painted(self) -> None:
        data = self.layers.working_data()
        if data is None or self.controller.locked:
            return
        self.controller.painted(data)
        self._autosave.start()

    def _save_edit(self) -> None:
        data = self.layers.working_data()
        if data is not None and self.controller.working is not None and not self.controller.locked:
            if not np.array_equal(data, self.controller.working):
                self.controller.painted(data)
        self.controller.save_edit()

    def _on_click(self, viewer, event):
        if "Alt" not in event.modifiers or self.controller.preview is None:
            return
        layer = self.layers.layer("proposal")
        if layer is None:
            return
        idx = self.layers.case_index(layer.world_to_data(event.position))
        rid = self.controller.region_at(idx) if idx is not None else 0
        if rid:
            self.controller.toggle_region(rid)

    def _threshold_moved(self, tau: float) -> None:
        self._pending_tau = tau
        self._slider_timer.start()

    def _apply_threshold(self) -> None:
        if self._pending_tau is None:
            return
        t0 = time.perf_counter()
        self.controller.set_threshold(self._pending_tau)
        self.last_slider_ms = 1000 * (time.perf_counter() - t0)
        self._pending_tau = None

    def _nudge_threshold(self, step: float) -> None:
        c = self.controller
        lo, hi = (0.5, 0.99) if c.threshold_name == "tau" else (0.05, 0.5)
        value = min(hi, max(lo, c.threshold + (step if c.threshold_name == "tau" else step / 2)))
        self.panel.set_tau(value)
        self._pending_tau = value
        self._apply_threshold()

    def _measure_chosen(self, index: int) -> None:
        key = self.panel.measure.itemData(index)
        self.layers.set_measure(key)
        self.panel.set_measure_unit(key)

    def cycle_measure(self) -> None:
        box = self.panel.measure
        box.setCurrentIndex((box.currentIndex() + 1) % box.count())
        self._status(f"heatmap: {MEASURES[box.currentData()]}")

    def _island_size(self) -> int:
        w = self.controller.working
        return max(10, int(0.002 * w.size)) if w is not None else 50

    def _status(self, msg: str) -> None:
        self.message.setStyleSheet("")
        self.message.setText(msg)
        self.viewer.status = msg
        log.info(msg)

    def _error(self, msg: str) -> None:
        from napari.utils.notifications import show_error

        self.message.setStyleSheet("color: #e53935;")
        self.message.setText(msg)
        log.error(msg)
        try:
            show_error(msg)
        except Exception:
            pass

    def _project_opened(self, root: str) -> None:
        c = self.controller
        self.header.setText(f"<b>{c.dataset.root.name}</b> ({c.dataset.layout}, {len(c.dataset)} cases)<br>"
                            f"<small>project: {root}</small>")

    # -- dialogs ---------------------------------------------------------------------------------------
    def ask_note(self) -> None:
        if self.controller.view is None:
            return
        text, ok = QInputDialog.getText(self, "Note", f"Note for {self.controller.case.id}:",
                                        text=self.controller.view.decision.get("note") or "")
        if ok:
            self.controller.set_note(text)
            self.panel.note.setText(text)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.controller.flush()
        super().closeEvent(event)


class CuratorPluginWidget(CuratorWidget):
    """The panel as napari's plugin menu creates it (napari passes the viewer as ``napari_viewer``)."""

    def __init__(self, napari_viewer):
        super().__init__(napari_viewer)
