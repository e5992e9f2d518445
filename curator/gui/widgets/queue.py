"""The review queue: cases ordered by how likely their mask is wrong, with their status."""

from __future__ import annotations

from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QTableWidget, \
    QTableWidgetItem, QVBoxLayout, QWidget

__all__ = ["QueueWidget", "STATUS_COLOURS"]

STATUS_COLOURS = {
    "unreviewed": None,
    "accepted": "#2e7d32",
    "kept": "#1565c0",
    "edited": "#6a1b9a",
    "excluded": "#616161",
    "flagged": "#ef6c00",
}
FILTERS = [("All cases", None), ("Unreviewed", "unreviewed"), ("Accepted", "accepted"), ("Kept", "kept"),
           ("Edited", "edited"), ("Excluded", "excluded"), ("Flagged", "flagged"), ("Failed", "failed")]


class QueueWidget(QWidget):
    """Table of cases: rank, case, score, proposed change, status. Emits ``case_selected``."""

    case_selected = Signal(str)
    filter_changed = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.filter = QComboBox()
        for label, value in FILTERS:
            self.filter.addItem(label, value)
        self.filter.currentIndexChanged.connect(lambda i: self.filter_changed.emit(self.filter.itemData(i)))
        self.count = QLabel("")
        top = QHBoxLayout()
        top.addWidget(QLabel("Review queue"))
        top.addStretch(1)
        top.addWidget(self.count)
        top.addWidget(self.filter)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["#", "Case", "Score", "Change", "Status"])
        tips = ["Rank: 1 is the case most likely to have a wrong mask",
                "Case id",
                "How likely the mask is wrong (higher = more likely), combined from the models' scores",
                "Size of the proposed change: pixels the proposal adds or removes, as a share of the given "
                "mask's area (100 % = as many pixels as the mask has; above 100 % the proposal more than "
                "redraws the mask, often a mask that misses most of the object). '–': no proposal",
                "Review status; 🔒 = decided (Reopen to change), ✎ = an edit in progress is saved as a draft"]
        for j, tip in enumerate(tips):
            self.table.horizontalHeaderItem(j).setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        hdr = self.table.horizontalHeader()
        hdr.setSectionResizeMode(QHeaderView.ResizeToContents)
        hdr.setSectionResizeMode(1, QHeaderView.Stretch)
        self.table.itemSelectionChanged.connect(self._selected)
        self.table.setToolTip("Cases in review order: rank 1 is the most likely to have a wrong mask. "
                              "N / Shift+N move to the next / previous case.")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.table)
        self._ids: list[str] = []
        self._quiet = False

    def set_rows(self, rows: list[dict], current: str | None = None) -> None:
        self._quiet = True
        try:
            self.table.setRowCount(len(rows))
            self._ids = [r["case_id"] for r in rows]
            for i, r in enumerate(rows):
                status = "failed" if r.get("failed") else r["decision"]
                change = r.get("change_fraction")
                cells = [
                    str(r["rank"]) if r.get("rank") else "–",
                    r["case_id"],
                    f"{r['score']:.3f}" if r.get("score") is not None else "–",
                    f"{100 * change:.1f} %" if change is not None else "–",
                    status + (" 🔒" if r.get("locked") else "") + (" ✎" if r.get("draft") else ""),
                ]
                for j, text in enumerate(cells):
                    item = QTableWidgetItem(text)
                    if j in (0, 2, 3):
                        item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                    if j == 3 and change is not None:
                        item.setToolTip(f"the proposal changes {100 * change:.1f} % of the given mask's area "
                                        f"(+{r.get('added') or 0} / −{r.get('removed') or 0} pixels)")
                    colour = "#c62828" if status == "failed" else STATUS_COLOURS.get(r["decision"])
                    if j == 4 and colour:
                        item.setForeground(QColor(colour))
                    if status == "failed":
                        item.setToolTip(r.get("failed") or "")
                    self.table.setItem(i, j, item)
            reviewed = sum(1 for r in rows if r["decision"] != "unreviewed")
            self.count.setText(f"{reviewed}/{len(rows)} reviewed")
            if current is not None:
                self.select(current)
        finally:
            self._quiet = False

    def select(self, case_id: str) -> None:
        if case_id in self._ids:
            row = self._ids.index(case_id)
            was, self._quiet = self._quiet, True
            self.table.selectRow(row)
            self.table.scrollToItem(self.table.item(row, 1))
            self._quiet = was

    def _selected(self) -> None:
        if self._quiet:
            return
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.case_selected.emit(self._ids[rows[0].row()])
