"""Menus of the desktop app: File, Tools and Help, added to the viewer window's menu bar.

Only the desktop app installs these (through Qt's public ``QMainWindow.menuBar()``); inside
someone else's napari viewer the panel's ☰ button offers the same actions and their menus are left
alone.
"""

from __future__ import annotations

from qtpy.QtWidgets import QMenu, QMenuBar

__all__ = ["install_menus"]


def _find(bar: QMenuBar, title: str) -> QMenu | None:
    for action in bar.actions():
        menu = action.menu()
        if menu is not None and action.text().replace("&", "").strip().lower() == title.lower():
            return menu
    return None


def install_menus(window, widget) -> dict[str, QMenu]:
    """Put the Curator actions at the top of File and Help and add a Tools menu."""
    bar = window.menuBar()
    a = widget.actions
    file_menu = _find(bar, "File") or bar.addMenu("&File")
    first = file_menu.actions()[0] if file_menu.actions() else None
    for key in ("open_dataset", "open_project"):
        file_menu.insertAction(first, a[key])
    recent = QMenu("Recent projects", file_menu)
    recent.aboutToShow.connect(lambda: widget._fill_recent(recent))
    file_menu.insertMenu(first, recent)
    file_menu.insertAction(first, a["export"])
    file_menu.insertSeparator(first)
    tools = QMenu("&Tools", bar)
    for key in ("batch", "rescore", "train", "uncertainty"):
        tools.addAction(a[key])
    tools.addSeparator()
    tools.addAction(a["settings"])
    help_menu = _find(bar, "Help")
    if help_menu is not None:
        bar.insertMenu(help_menu.menuAction(), tools)
    else:
        bar.addMenu(tools)
        help_menu = bar.addMenu("&Help")
    first = help_menu.actions()[0] if help_menu.actions() else None
    help_menu.insertAction(first, a["shortcuts"])
    help_menu.insertAction(first, a["about"])
    help_menu.insertSeparator(first)
    a["shortcuts"].setShortcut("F1")
    return {"file": file_menu, "tools": tools, "help": help_menu, "recent": recent}
