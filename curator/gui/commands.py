"""The Curator panel's commands beyond the case on screen: open a dataset or a project (and
relink one whose dataset moved), export, start Batch relabel, settings and help; the actions and
the ☰ menu that offer them (the desktop app's menu bar reuses the same actions).

:class:`PanelCommands` is a part of :class:`curator.gui.main_widget.CuratorWidget`; it uses the
widget's ``controller`` and its ``_status`` and ``_error`` messages.
"""

from __future__ import annotations

from qtpy.QtWidgets import QFileDialog, QMenu

__all__ = ["PanelCommands"]


class PanelCommands:
    """Menus and dialogs of the Curator panel (a part of the panel widget)."""

    def _build_actions(self) -> dict:
        from qtpy.QtWidgets import QAction

        def act(text, slot, tip=""):
            a = QAction(text, self)
            a.triggered.connect(slot)
            a.setStatusTip(tip)
            return a

        return {
            "open_dataset": act("Open dataset…", self.ask_open_dataset, "Open a dataset folder (it is only read)"),
            "open_project": act("Open project…", self.ask_open_project, "Open a Mask Curator project folder"),
            "export": act("Export cleaned dataset…", self.ask_export, "Write the cleaned dataset with a record of changes"),
            "train": act("Train ensemble", self.controller.start_train, "Train the out-of-fold ensemble"),
            "uncertainty": act("Compute uncertainty", self.controller.start_uncertainty, "Uncertainty maps for every case"),
            "batch": act("Batch relabel", self.batch_relabel, "Train, compute uncertainty, propose and rank"),
            "rescore": act("Re-score from reviews", self.controller.start_rescore,
                           "A review round: the models learn from the decisions and trusted masks, then re-rank "
                           "and re-propose the cases still unreviewed"),
            "settings": act("Settings…", self.show_settings, "Training, uncertainty and proposal settings"),
            "shortcuts": act("Keyboard shortcuts", self.show_shortcuts, "All shortcuts"),
            "about": act("About Mask Curator", self.show_about),
        }

    def _build_menu(self) -> QMenu:
        m = QMenu(self)
        for key in ("open_dataset", "open_project", "export"):
            m.addAction(self.actions[key])
        self.recent_menu = m.addMenu("Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        m.addSeparator()
        for key in ("train", "uncertainty", "batch", "rescore", "settings"):
            m.addAction(self.actions[key])
        m.addSeparator()
        for key in ("shortcuts", "about"):
            m.addAction(self.actions[key])
        return m

    def _fill_recent(self, menu=None) -> None:
        menu = menu or self.recent_menu
        menu.clear()
        items = self.controller.recent()
        if not items:
            a = menu.addAction("(none yet)")
            a.setEnabled(False)
        for path in items:
            menu.addAction(path, lambda p=path: self._open_project(p))

    def ask_open_dataset(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open dataset folder")
        if path:
            self.open_dataset(path)

    def open_dataset(self, path, project=None) -> bool:
        from curator.core.data.cases import DatasetError
        from curator.core.project.folder import ProjectError

        try:
            self.controller.open_dataset(path, project)
            return True
        except (DatasetError, ProjectError, OSError) as exc:
            self._error(str(exc))
            return False

    def ask_open_project(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open project folder")
        if path:
            self._open_project(path)

    def _open_project(self, path) -> bool:
        from curator.core.project.folder import DatasetMissingError, ProjectError

        try:
            self.controller.open_project(path)
            return True
        except DatasetMissingError as exc:
            if self.ask_relink(path, str(exc)):
                return self._open_project(path)
            self._error(str(exc))
            return False
        except (ProjectError, OSError) as exc:
            self._error(str(exc))
            return False

    def ask_relink(self, project_dir, why: str) -> bool:
        """The project's dataset moved: ask where it is now, and relink the project to it after
        checking it holds the same data. True when relinked."""
        from qtpy.QtWidgets import QMessageBox

        from curator.core.project.folder import Project, ProjectError

        answer = QMessageBox.question(self, "Where is the dataset?", f"{why}\n\nLocate the dataset folder now?",
                                      QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
        if answer != QMessageBox.Yes:
            return False
        new = QFileDialog.getExistingDirectory(self, "The project's dataset folder")
        if not new:
            return False
        try:
            Project.open(project_dir).relink(new)
        except (ProjectError, OSError) as exc:
            self._error(f"not relinked: {exc}")
            return False
        self._status(f"project relinked to {new}")
        return True

    def ask_export(self) -> None:
        if self.controller.project is None:
            self._error("open a dataset or project first")
            return
        path = QFileDialog.getExistingDirectory(self, "Export the cleaned dataset into (an empty or new folder)")
        if path:
            self.controller.start_export(path)

    def batch_relabel(self) -> None:
        if self.controller.dataset is None:
            self.ask_open_dataset()
        if self.controller.dataset is not None:
            self.controller.start_batch()

    def show_settings(self) -> None:
        from curator.gui.dialogs import SettingsDialog

        dlg = SettingsDialog(self.controller.settings, self)
        if dlg.exec_():
            dlg.apply()
            self.panel.set_threshold_mode(self.controller.threshold_name)
            self.panel.set_tau(self.controller.threshold)

    def show_shortcuts(self) -> None:
        from curator.gui.dialogs import ShortcutsDialog

        ShortcutsDialog(self).exec_()

    def show_about(self) -> None:
        from curator.gui.dialogs import show_about

        show_about(self)
