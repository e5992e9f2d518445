"""A progress bar with a Cancel button for the running background job."""

from __future__ import annotations

from qtpy.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

__all__ = ["JobBar"]


class JobBar(QWidget):
    """Shows the running job's name, progress and message; Cancel asks the job to stop."""

    def __init__(self, runner, parent=None):
        super().__init__(parent)
        self.runner = runner
        self.label = QLabel("")
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the job at its next step; finished work is kept and a rerun resumes")
        self.cancel_button.clicked.connect(runner.cancel)
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label)
        lay.addLayout(row)
        runner.started.connect(self._started)
        runner.progress.connect(self._progress)
        for sig in (runner.finished, runner.failed, runner.cancelled):
            sig.connect(lambda *a: self.setVisible(False))
        self.setVisible(False)

    def _started(self, name: str) -> None:
        self.label.setText(f"{name} …")
        self.bar.setRange(0, 0)
        self.setVisible(True)

    def _progress(self, step: int, total: int, message: str) -> None:
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(min(step, total))
        else:
            self.bar.setRange(0, 0)
        self.label.setText(f"{self.runner.name}: {message}")
