"""Dialogs: settings for the jobs, keyboard shortcuts, About, and a clear error message box."""

from __future__ import annotations

from dataclasses import replace

from qtpy.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QGroupBox,
                            QLabel, QLineEdit, QMessageBox, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout,
                            QWidget)

from curator.core.project.executors import executor_names
from curator.core.engine.training_data import LOSSES

__all__ = ["SHORTCUTS", "SettingsDialog", "ShortcutsDialog", "show_about", "show_error"]

SHORTCUTS = [
    ("A", "Accept the proposal (with the ticked regions)"),
    ("K", "Keep the original mask"),
    ("Ctrl+S", "Save the edited working mask"),
    ("D", "Exclude the case from the cleaned dataset"),
    ("G", "Flag the case for an expert"),
    ("R", "Reopen a decided (locked) case"),
    ("T", "Write a note for the case"),
    ("Shift+T", "Trust the mask (never relabelled or proposed for change), or take the trust back"),
    ("N / Shift+N", "Next / previous case in the queue"),
    ("Ctrl+Z / Ctrl+Shift+Z", "Undo / redo changes to the working mask"),
    ("I", "Remove small islands"),
    ("H", "Fill holes"),
    ("Shift+S", "Smooth the outline"),
    ("Shift+F", "Fill between slices (3D)"),
    ("U", "Next uncertainty measure"),
    ("Page Up / Page Down", "Raise / lower the proposal threshold τ"),
    ("Alt+click", "Tick / untick the proposed region under the pointer for Accept"),
    ("P / E / F", "Paint / erase / fill on the working mask (napari)"),
    ("Ctrl+Y", "Toggle 3D rendering (napari)"),
    ("F1", "This list"),
]


class SettingsDialog(QDialog):
    """Edit the training, uncertainty and proposal settings used by the Tools menu jobs."""

    def __init__(self, settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Mask Curator settings")
        self.settings = settings
        t, u, p = settings.train, settings.uncertainty, settings.proposal
        self._training_widgets(t)
        self.tta = _spin(1, 16, u.tta)
        self.mc = _spin(0, 50, u.mc)
        self.tau = _dspin(0.5, 0.99, p.tau)
        self.delta = _dspin(0.05, 0.5, p.delta)
        self.gate = _dspin(0.0, 1.0, p.min_confidence if p.min_confidence is not None else 0.0)
        self.gate.setSpecialValueText("auto: 1 - (1 - τ) / 5")
        self.gate.setToolTip("Mean model confidence a change region needs to be proposed; "
                             "auto is 0.96 at τ = 0.8 (confident rule) and off for the uncertainty rule")
        self.rules = QComboBox()
        self.rules.addItems(["confident", "uncertainty", "confident,uncertainty"])
        self.rules.setCurrentText(",".join(p.rules))
        self.reviewer = QLineEdit(settings.reviewer or "")
        self.reviewer.setPlaceholderText("your login name")
        self.executor = QComboBox()
        self.executor.addItems(sorted(set(executor_names()) | {settings.executor}, key=lambda n: n != "local"))
        self.executor.setCurrentText(settings.executor)
        self.executor.setToolTip("Where Batch relabel trains and scores: local (this computer) or an installed "
                                 "executor plugin such as ray (plugins/mask-curator-ray); Cancel stops its tasks")
        self.address = QLineEdit(settings.executor_address or "")
        self.address.setPlaceholderText("empty: start one on this computer; auto or HOST:PORT: join a cluster")
        tr = self._training_form()
        un = QFormLayout()
        un.addRow("Test-time augmentations", self.tta)
        un.addRow("MC-dropout passes", self.mc)
        pr = QFormLayout()
        pr.addRow("Rules", self.rules)
        pr.addRow("Threshold τ (confident rule)", self.tau)
        pr.addRow("Threshold δ (uncertainty rule)", self.delta)
        pr.addRow("Region confidence", self.gate)
        lay = QVBoxLayout(self)
        for title, form in (("Training", tr), ("Uncertainty", un), ("Proposals", pr)):
            box = QGroupBox(title)
            box.setLayout(form)
            lay.addWidget(box)
        who = QFormLayout()
        who.addRow("Reviewer name", self.reviewer)
        lay.addLayout(who)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def _training_widgets(self, t) -> None:
        self.folds = _spin(2, 20, t.folds)
        self.epochs = _spin(1, 1000, t.epochs)
        self.size = _spin(32, 1024, t.size, step=16)
        self.batch = _spin(1, 256, t.batch_size)
        self.loss = QComboBox()
        self.loss.addItems(list(LOSSES))
        self.loss.setCurrentText(t.loss)
        self.loss.setToolTip("dicece: Dice + cross-entropy (default); ce: cross-entropy (BCE for one object class); "
                             "dice; gce and sce: generalised and symmetric cross-entropy, robust to wrong masks")
        self.reweight = QCheckBox("Down-weight pixels the network is unsure of (reweighting)")
        self.reweight.setChecked(t.reweight)
        self.mixup = _dspin(0.0, 2.0, t.mixup)
        self.mixup.setSpecialValueText("off")
        self.mixup.setToolTip("MixUp of training images, Beta(a, a); 0.4 is usual")
        self.trusted_weight = _dspin(0.1, 20.0, t.trusted_weight)
        self.trusted_weight.setToolTip("Loss weight of the cases you trusted, kept, accepted or edited")
        self.pretrain = _spin(0, 1000, t.pretrain_epochs)
        self.pretrain.setToolTip("First train this many epochs on the trusted and reviewed cases alone, then on all")
        self.relabel = QCheckBox("Relabel noisy masks while training")
        self.relabel.setChecked(t.relabel is not None)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda", "mps"])
        self.device.setCurrentText(t.device)

    def _training_form(self) -> QFormLayout:
        tr = QFormLayout()
        tr.addRow("Folds (ensemble members)", self.folds)
        tr.addRow("Epochs per member", self.epochs)
        tr.addRow("2D working size (px)", self.size)
        tr.addRow("Batch size", self.batch)
        tr.addRow("Loss", self.loss)
        tr.addRow("", self.relabel)
        tr.addRow("", self.reweight)
        tr.addRow("MixUp", self.mixup)
        tr.addRow("Weight of reviewed cases", self.trusted_weight)
        tr.addRow("Pretrain on reviewed cases (epochs)", self.pretrain)
        tr.addRow("Device", self.device)
        tr.addRow("Run on", self.executor)
        tr.addRow("Cluster address", self.address)
        return tr

    def apply(self) -> None:
        from curator.core.engine.training import RelabelConfig

        s = self.settings
        s.train = replace(s.train, folds=self.folds.value(), epochs=self.epochs.value(), size=self.size.value(),
                          batch_size=self.batch.value(), loss=self.loss.currentText(), device=self.device.currentText(),
                          reweight=self.reweight.isChecked(), mixup=self.mixup.value(),
                          trusted_weight=self.trusted_weight.value(),
                          pretrain_epochs=min(self.pretrain.value(), self.epochs.value() - 1),
                          relabel=(s.train.relabel or RelabelConfig()) if self.relabel.isChecked() else None)
        s.uncertainty = replace(s.uncertainty, tta=self.tta.value(), mc=self.mc.value(), device=self.device.currentText())
        s.proposal = replace(s.proposal, tau=self.tau.value(), delta=self.delta.value(),
                             rules=tuple(self.rules.currentText().split(",")),
                             min_confidence=self.gate.value() or None)
        s.reviewer = self.reviewer.text().strip() or None
        s.executor = self.executor.currentText() or "local"
        s.executor_address = (self.address.text().strip() or None) if s.executor != "local" else None
        s.save()


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        table = QTableWidget(len(SHORTCUTS), 2)
        table.setHorizontalHeaderLabels(["Keys", "Action"])
        table.verticalHeader().setVisible(False)
        for i, (keys, what) in enumerate(SHORTCUTS):
            table.setItem(i, 0, QTableWidgetItem(keys))
            table.setItem(i, 1, QTableWidgetItem(what))
        table.resizeColumnsToContents()
        table.setMinimumWidth(520)
        table.setMinimumHeight(480)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Shortcuts work when the image or the Curator panel has the focus."))
        lay.addWidget(table)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)


def show_about(parent=None) -> None:
    from curator import __version__

    QMessageBox.about(parent, "About Mask Curator",
                      f"<b>Mask Curator {__version__}</b><br>Find and fix wrong segmentation masks in medical "
                      "imaging datasets, with uncertainty from model ensembles.<br><br>Method: Redekop &amp; "
                      "Chernyavskiy, <i>Uncertainty-based method for improving poorly labeled segmentation "
                      "datasets</i>, ISBI 2021.<br>Built on napari, PySide6, PyTorch, MONAI, SimpleITK.<br><br>"
                      "Your dataset folder is only read; every change lives in the project folder.")


def show_error(parent, message: str) -> None:
    box = QMessageBox(QMessageBox.Warning, "Mask Curator", message, QMessageBox.Ok, parent)
    box.setModal(False)
    box.show()


def _spin(lo, hi, value, step=1) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setValue(int(value))
    return s


def _dspin(lo, hi, value) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setSingleStep(0.01)
    s.setDecimals(2)
    s.setValue(float(value))
    return s
