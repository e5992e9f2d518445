"""Review controls for the current case: decisions, display, change regions, threshold, editing.

Laid out so that what a reviewer needs for every case (decisions, the heatmap and CT window, the
proposed regions) fits above the fold of the dock; editing helpers come last.
"""

from __future__ import annotations

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (QComboBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                            QListWidget, QListWidgetItem, QPushButton, QSlider, QVBoxLayout, QWidget)

from curator.gui.colours import CHANGE_COLOURS, COLORMAPS, CT_PRESETS, HEAT_FLOOR, MEASURE_UNITS, MEASURES, label_colour

__all__ = ["ReviewPanel"]


def _button(text: str, tip: str) -> QPushButton:
    b = QPushButton(text)
    b.setToolTip(tip)
    return b


def _hex(rgb) -> str:
    return "#" + "".join(f"{int(round(255 * c)):02x}" for c in rgb[:3])


def _swatches(items) -> str:
    """Rich text: a coloured square and a name per ``(rgb, name)``."""
    return "&nbsp;&nbsp; ".join(f'<span style="color:{_hex(rgb)}">■</span>&nbsp;{name}' for rgb, name in items)



REGIONS_TIP = ("Proposed change regions: untick one to leave it out of Accept. Alt+click on a region in the image "
               "toggles it too. Each region's confidence is the models' mean certainty there.")

class ReviewPanel(QWidget):
    """Buttons and controls; the main widget connects them to the controller."""

    threshold_changed = Signal(float)
    region_toggled = Signal(int, bool)
    note_entered = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._label_names: dict[int, str] = {}  # the case's labels (show_labels), for the region list
        self.title = QLabel("No case open")
        self.title.setStyleSheet("font-weight: bold; font-size: 14px;")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        decisions = self._decision_box()
        self.note = QLineEdit()
        self.note.setPlaceholderText("Note for this case (Enter saves)")
        self.note.returnPressed.connect(lambda: self.note_entered.emit(self.note.text()))
        display = self._display_box()
        prop_box = self._proposal_box()
        editing = self._editing_box()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(self.title)
        lay.addWidget(self.status)
        lay.addWidget(decisions)
        lay.addWidget(self.note)
        lay.addWidget(display)
        lay.addWidget(prop_box)
        lay.addWidget(editing)
        lay.addStretch(1)
        self._quiet = False
        self._locked = False  # the case on screen is decided and locked
        self._proposable = False  # it has proposed regions to accept
        self._withheld = False  # the batch withheld its proposals
        self._case_controls = [self.accept_button, self.keep_button, self.save_button, self.exclude_button,
                               self.flag_button, self.reopen_button, self.prev_button, self.next_button, self.note,
                               self.tau, self.regions, self.undo_button, self.redo_button, self.islands_button,
                               self.holes_button, self.smooth_button, self.between_button]
        for w in self._case_controls:  # nothing to act on until a case is open
            w.setEnabled(False)
        self.set_measure_unit(self.measure.currentData())

    def _decision_box(self) -> QGroupBox:
        """Accept, Keep, Save, Exclude, Flag, Reopen, Prev and Next."""
        self.accept_button = _button("Accept (A)", "Accept the proposed mask, with the regions ticked below (A)")
        self.keep_button = _button("Keep (K)", "Keep the original: the given mask is right (K)")
        self.save_button = _button("Save (Ctrl+S)", "Save the working mask as painted: an edit (Ctrl+S)")
        self.exclude_button = _button("Exclude (D)", "Leave this case out of the cleaned dataset (D)")
        self.flag_button = _button("Flag (G)", "Flag for an expert: no decision yet, the export keeps the original; an edit in progress stays with the flag (G)")
        self.reopen_button = _button("Reopen (R)", "Unlock a decided case to change it (R)")
        self.prev_button = _button("◀ Prev", "Previous case in the queue (Shift+N)")
        self.next_button = _button("Next ▶", "Next case in the queue (N); changes made to this case are saved")
        grid = QGridLayout()
        grid.setSpacing(4)
        for i, b in enumerate([self.accept_button, self.keep_button, self.save_button, self.exclude_button,
                               self.flag_button, self.reopen_button, self.prev_button, self.next_button]):
            grid.addWidget(b, i // 4, i % 4)
        self.accept_button.setStyleSheet("font-weight: bold;")
        decisions = QGroupBox("Decision")
        decisions.setLayout(grid)
        return decisions

    def _display_box(self) -> QGroupBox:
        """Heatmap measure, colours and opacity, CT window, 3D view and the label legend (above the
        fold: every case needs it)."""
        self.measure = QComboBox()
        for key, label in MEASURES.items():
            self.measure.addItem(label, key)
        self.measure.setToolTip("The uncertainty measure the heatmap shows (U cycles through them)")
        self.colormap = QComboBox()
        self.colormap.addItems(list(COLORMAPS))
        self.colormap.setToolTip("Heatmap colours (transparent at the bottom of the range)")
        self.opacity = QSlider(Qt.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(55)
        self.opacity.setToolTip("Heatmap opacity")
        self.heat_legend = QLabel("")
        self.heat_legend.setWordWrap(True)
        self.heat_legend.setStyleSheet("color: #9e9e9e;")
        self.ct_preset = QComboBox()
        self.ct_preset.addItems(list(CT_PRESETS))
        self.ct_preset.setToolTip("CT window (width / level in HU)")
        self.view3d_button = _button("3D view", "Render the volume in 3D (Ctrl+Y)")
        self.label_legend = QLabel("")
        self.label_legend.setWordWrap(True)
        self.label_legend.setToolTip("Mask labels: outline = given mask, fill = working mask")
        heat_row = QHBoxLayout()
        heat_row.addWidget(self.measure, 3)
        heat_row.addWidget(self.colormap, 1)
        opacity_row = QHBoxLayout()
        opacity_row.addWidget(QLabel("Heatmap opacity"))
        opacity_row.addWidget(self.opacity, 1)
        ct_row = QHBoxLayout()
        self.ct_label = QLabel("CT window")
        ct_row.addWidget(self.ct_label)
        ct_row.addWidget(self.ct_preset, 1)
        ct_row.addWidget(self.view3d_button)
        display = QGroupBox("Display")
        dl = QVBoxLayout(display)
        dl.setSpacing(3)
        dl.addLayout(heat_row)
        dl.addLayout(opacity_row)
        dl.addWidget(self.heat_legend)
        dl.addLayout(ct_row)
        dl.addWidget(self.label_legend)
        return display

    def _proposal_box(self) -> QGroupBox:
        """The threshold slider, the change colours and the change regions to tick."""
        self.tau = QSlider(Qt.Horizontal)
        self.tau.setRange(50, 99)
        self.tau.setValue(80)
        self.tau.setToolTip("Confidence the models need before a change is proposed (tau). Page Up / Page Down")
        self.tau_label = QLabel("0.80")
        self.tau.valueChanged.connect(self._tau_moved)
        tau_row = QHBoxLayout()
        self.tau_name = QLabel("Threshold τ")
        tau_row.addWidget(self.tau_name)
        tau_row.addWidget(self.tau, 1)
        tau_row.addWidget(self.tau_label)
        self.change_legend = QLabel(_swatches([(c, n) for n, c in CHANGE_COLOURS.values()]))
        self.change_legend.setWordWrap(True)
        self.regions = QListWidget()
        self.regions.setToolTip(REGIONS_TIP)
        self.regions.itemChanged.connect(self._region_item_changed)
        self.regions.setMaximumHeight(110)
        prop_box = QGroupBox("Proposed change")
        pl = QVBoxLayout(prop_box)
        pl.setSpacing(3)
        pl.addLayout(tau_row)
        pl.addWidget(self.change_legend)
        pl.addWidget(self.regions)
        return prop_box

    def _editing_box(self) -> QGroupBox:
        """Undo, redo and the Segment Editor helpers."""
        self.undo_button = _button("Undo", "Undo the last change of the working mask (Ctrl+Z)")
        self.redo_button = _button("Redo", "Redo (Ctrl+Shift+Z)")
        self.islands_button = _button("Islands (I)", "Remove small disconnected pieces (I)")
        self.holes_button = _button("Holes (H)", "Fill holes inside the mask (H)")
        self.smooth_button = _button("Smooth", "Smooth the outline: opening and closing (Shift+S)")
        self.between_button = _button("Between", "Fill between painted slices by interpolation, 3D (Shift+F)")
        eg = QGridLayout()
        eg.setSpacing(4)
        for i, b in enumerate([self.undo_button, self.redo_button, self.islands_button, self.holes_button,
                               self.smooth_button, self.between_button]):
            eg.addWidget(b, i // 3, i % 3)
        editing = QGroupBox("Edit the working mask  (paint P, erase E, fill F)")
        editing.setLayout(eg)
        return editing

    # -- updates from the controller ---------------------------------------------------------------
    def show_case(self, case_id: str, decision: dict, row: dict | None, ndim: int) -> None:
        d = decision.get("decision", "unreviewed")
        locked = bool(decision.get("locked"))
        score = row.get("score") if row else None
        rank = row.get("rank") if row else None
        self.title.setText(f"{case_id}" + (f"   (rank {rank})" if rank else ""))
        parts = [f"status: <b>{d}</b>" + (" — locked" if locked else "")]
        if score is not None:
            parts.append(f"score {score:.3f}")
        if decision.get("reviewer") and d != "unreviewed":
            parts.append(f"by {decision['reviewer']}")
        self.status.setText(", ".join(parts))
        self.note.setText(decision.get("note") or "")
        for w in self._case_controls:
            w.setEnabled(True)
        for b in (self.accept_button, self.keep_button, self.save_button, self.exclude_button,
                  self.islands_button, self.holes_button, self.smooth_button, self.between_button):
            b.setEnabled(not locked)
        self.flag_button.setEnabled(not locked)
        self.reopen_button.setEnabled(locked)
        # a locked case shows the proposal its decision was made on; nothing on it changes
        self._locked = locked
        self._sync_proposal_controls()
        self.regions.setEnabled(not locked)
        self.undo_button.setEnabled(False)
        self.redo_button.setEnabled(False)
        self.between_button.setVisible(ndim == 3)
        for w in (self.ct_preset, self.ct_label, self.view3d_button):
            w.setVisible(ndim == 3)

    def _sync_proposal_controls(self) -> None:
        """Accept only when there are regions to accept; the threshold only when it can bring some
        (never on a locked case, nor where the batch withheld the proposals)."""
        self.accept_button.setEnabled(not self._locked and self._proposable)
        self.tau.setEnabled(not self._locked and not self._withheld)

    def set_history(self, can_undo: bool, can_redo: bool) -> None:
        """Undo and Redo are on only when there is something to undo or redo (never on a locked case)."""
        self.undo_button.setEnabled(can_undo)
        self.redo_button.setEnabled(can_redo)

    def set_measure_unit(self, key: str | None) -> None:
        if key:
            self.heat_legend.setText(f"{MEASURES[key]} in {MEASURE_UNITS[key]}; see the colour bar on the image. "
                                     f"Transparent below {HEAT_FLOOR:.0%} of the case's top value (or its median, "
                                     "when most of the case is uncertain).")

    def show_labels(self, names: dict[int, str]) -> None:
        """The mask labels with their names and colours (outline: given mask, fill: working mask)."""
        self._label_names = dict(names)
        items = [(label_colour(v), f"{v} {name}" if name else f"label {v}") for v, name in sorted(names.items())]
        named = any(names.values())
        more = (f" … and {len(items) - 12} more" + (" (hover over the mask for names)" if named else "")
                if len(items) > 12 else "")
        self.label_legend.setText("Labels: " + (_swatches(items[:12]) + more if items else "none in this mask"))

    def check_regions(self, accepted: set[int]) -> None:
        """Tick the listed regions that are in ``accepted`` (without announcing it)."""
        self._quiet = True
        try:
            for i in range(self.regions.count()):
                item = self.regions.item(i)
                rid = item.data(Qt.UserRole)
                if rid is not None:
                    state = Qt.Checked if int(rid) in accepted else Qt.Unchecked
                    if item.checkState() != state:
                        item.setCheckState(state)
        finally:
            self._quiet = False

    def show_regions(self, regions: list[dict], accepted: set[int], gate: float = 0.0, *,
                     withheld: str | None = None, trust: str = "") -> None:
        """The change regions as a checklist; ``gate``: the model confidence a region needs (said
        when nothing is proposed, so an empty list is not a mystery); ``withheld``: why the batch
        proposes nothing for this case; ``trust``: how the gate was set (the list's tooltip)."""
        self._proposable, self._withheld = bool(regions) and not withheld, bool(withheld)
        self._sync_proposal_controls()
        self._quiet = True
        try:
            self.regions.clear()
            self.regions.setToolTip(REGIONS_TIP + (f"\n\n{trust}" if trust else ""))
            if withheld:
                item = QListWidgetItem(f"proposals withheld: {withheld}; review by ranking only")
                item.setToolTip(item.text())
                self.regions.addItem(item)
                self.regions.setWordWrap(True)
                return
            for r in regions:
                arrow = {"added": "+", "removed": "−", "relabelled": "↔", "class": "⇄"}.get(r["kind"], "?")
                unc = r.get("mean_uncertainty")
                unc_txt = f", uncertainty {unc:.2f}" if unc is not None and unc == unc else ""
                conf = r.get("mean_confidence")
                conf_txt = f", confidence {conf:.2f}" if conf is not None and conf == conf else ""
                what = r["kind"]
                if what == "class":  # a whole component's label: say which labels
                    what = f"class {self._label_text(r.get('from_label'))} → {self._label_text(r.get('to_label'))}"
                item = QListWidgetItem(f"{arrow} region {r['id']}: {what}, {r['size']} px{conf_txt}{unc_txt}")
                if r["kind"] == "class":
                    item.setToolTip("The models give this whole component another label: accepting it keeps "
                                    "its outline and changes its label")
                item.setData(Qt.UserRole, int(r["id"]))
                item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
                item.setCheckState(Qt.Checked if r["id"] in accepted else Qt.Unchecked)
                self.regions.addItem(item)
            if not regions:
                why = (f" (a change needs a mean model confidence of {gate:.2f}; lower the threshold, or the "
                       "region confidence in Settings, to see less certain ones)") if gate > 0 else ""
                item = QListWidgetItem("no change proposed" + why)
                item.setToolTip(item.text())
                self.regions.addItem(item)
                self.regions.setWordWrap(True)
        finally:
            self._quiet = False

    def _label_text(self, value) -> str:
        """A label value with its name, when the dataset names it (``2 tumour``)."""
        if value is None:
            return "?"
        name = self._label_names.get(int(value))
        return f"{int(value)} {name}" if name else f"label {int(value)}"

    def set_tau(self, tau: float) -> None:
        self._quiet = True
        self.tau.setValue(int(round(tau * 100)))
        self.tau_label.setText(f"{tau:.2f}")
        self._quiet = False

    def set_threshold_mode(self, name: str) -> None:
        """``tau``: confidence needed to propose a change (0.50-0.99); ``delta``: uncertainty above
        which the poster's rule flips a pixel (0.05-0.50)."""
        self._quiet = True
        if name == "delta":
            self.tau_name.setText("Threshold δ")
            self.tau.setRange(5, 50)
            self.tau.setToolTip("Uncertainty above which a pixel is flipped (the poster's delta). Page Up / Page Down")
        else:
            self.tau_name.setText("Threshold τ")
            self.tau.setRange(50, 99)
            self.tau.setToolTip("Confidence the models need before a change is proposed (tau). Page Up / Page Down")
        self._quiet = False

    # -- internal ------------------------------------------------------------------------------------
    def _tau_moved(self, value: int) -> None:
        self.tau_label.setText(f"{value / 100:.2f}")
        if not self._quiet:
            self.threshold_changed.emit(value / 100)

    def _region_item_changed(self, item) -> None:
        if self._quiet or item.data(Qt.UserRole) is None:
            return
        self.region_toggled.emit(int(item.data(Qt.UserRole)), item.checkState() == Qt.Checked)
