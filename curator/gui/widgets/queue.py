"""The review queue: cases ordered by how likely their mask is wrong, with their status.

The table is a view over a lazy model: a cell's text is made when Qt draws it, so a queue of
100,000 cases shows as fast as one of ten (the rows are the store's, read once per refresh)."""

from __future__ import annotations

from qtpy.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QTableView, \
    QVBoxLayout, QWidget

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


HEADERS = ["#", "Case", "Score", "Change", "Status"]
TIPS = ["Rank: 1 is the case most likely to have a wrong mask",
        "Case id",
        "How likely the mask is wrong (higher = more likely), combined from the models' scores",
        "Size of the proposed change: pixels the proposal adds or removes, as a share of the given "
        "mask's area (100 % = as many pixels as the mask has; above 100 % the proposal more than "
        "redraws the mask, often a mask that misses most of the object). '–': no proposal",
        "Review status; 🔒 = decided (Reopen to change), ✎ = an edit in progress is saved as a draft, "
        "✓ = trusted: the mask is known to be right (Shift+T)"]


class QueueModel(QAbstractTableModel):
    """The queue's rows (dicts from :meth:`curator.core.project.store.Store.queue`) as a table model."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict] = []

    def set_rows(self, rows: list[dict]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and 0 <= section < len(HEADERS):
            if role == Qt.DisplayRole:
                return HEADERS[section]
            if role == Qt.ToolTipRole:
                return TIPS[section]
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        r, j = self.rows[index.row()], index.column()
        status = "failed" if r.get("failed") else r["decision"]
        change = r.get("change_fraction")
        if role == Qt.DisplayRole:
            if j == 0:
                return str(r["rank"]) if r.get("rank") else "–"
            if j == 1:
                return r["case_id"]
            if j == 2:
                return f"{r['score']:.3f}" if r.get("score") is not None else "–"
            if j == 3:
                return f"{100 * change:.1f} %" if change is not None else "–"
            return (status + (" 🔒" if r.get("locked") else "") + (" ✎" if r.get("draft") else "")
                    + (" ✓" if r.get("trusted") else ""))
        if role == Qt.TextAlignmentRole and j in (0, 2, 3):
            return Qt.AlignRight | Qt.AlignVCenter
        if role == Qt.ForegroundRole and j == 4:
            colour = "#c62828" if status == "failed" else STATUS_COLOURS.get(r["decision"])
            return QColor(colour) if colour else None
        if role == Qt.ToolTipRole:
            if status == "failed":
                return r.get("failed") or ""
            if j == 3 and change is not None:
                return (f"the proposal changes {100 * change:.1f} % of the given mask's area "
                        f"(+{r.get('added') or 0} / −{r.get('removed') or 0} pixels)")
        return None


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
        self.model = QueueModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.Fixed)  # uniform rows: no measuring
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        hdr = self.table.horizontalHeader()
        for j, width in enumerate((56, 0, 60, 70, 120)):
            if width:
                hdr.setSectionResizeMode(j, QHeaderView.Interactive)
                hdr.resizeSection(j, width)
        hdr.setSectionResizeMode(1, QHeaderView.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._selected)
        self.table.setToolTip("Cases in review order: rank 1 is the most likely to have a wrong mask. "
                              "N / Shift+N move to the next / previous case.")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.table)
        self._ids: list[str] = []
        self._row_of: dict[str, int] | None = None
        self._quiet = False

    def set_rows(self, rows: list[dict], current: str | None = None) -> None:
        self._quiet = True
        try:
            self.model.set_rows(rows)
            self._ids = [r["case_id"] for r in rows]
            self._row_of = None
            reviewed = sum(1 for r in rows if r["decision"] != "unreviewed")
            self.count.setText(f"{reviewed}/{len(rows)} reviewed")
            if current is not None:
                self.select(current)
        finally:
            self._quiet = False

    # -- reading the table (tests, and whoever drives the panel) ---------------------------------
    def row_count(self) -> int:
        return self.model.rowCount()

    def text(self, row: int, column: int) -> str:
        return self.model.index(row, column).data(Qt.DisplayRole)

    def tooltip(self, row: int, column: int) -> str | None:
        return self.model.index(row, column).data(Qt.ToolTipRole)

    def header_tooltip(self, column: int) -> str:
        return self.model.headerData(column, Qt.Horizontal, Qt.ToolTipRole)

    def row_of(self, case_id: str) -> int | None:
        if self._row_of is None:
            self._row_of = {c: i for i, c in enumerate(self._ids)}
        return self._row_of.get(case_id)

    def select(self, case_id: str) -> None:
        row = self.row_of(case_id)
        if row is not None:
            was, self._quiet = self._quiet, True
            self.table.selectRow(row)
            self.table.scrollTo(self.model.index(row, 1))
            self._quiet = was

    def _selected(self, *_) -> None:
        if self._quiet:
            return
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.case_selected.emit(self._ids[rows[0].row()])
