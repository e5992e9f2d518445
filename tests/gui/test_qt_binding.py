"""The Qt binding must keep Python's reference counts: PySide6 6.12.0 drops a reference on every
signal emission to a Python slot and on every ``QTimer.singleShot`` with a callable, until the
interpreter aborts ("bool_dealloc" / "none_dealloc") minutes into a session. Checked in a child
process, so that a bad binding fails this test instead of aborting the whole run."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import gc, sys
from qtpy.QtCore import QObject, QTimer, Signal
from qtpy.QtWidgets import QApplication
app = QApplication([])
class Emitter(QObject):
    progress = Signal(int, int, str)
e = Emitter()
e.progress.connect(lambda step, total, message: None)
gc.collect()
before = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
for i in range(200):
    e.progress.emit(i, 200, "x")
    QTimer.singleShot(0, lambda: None)
for _ in range(20):
    app.processEvents()
gc.collect()
after = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
print(*[a - b for a, b in zip(after, before)])
"""


def test_signals_and_timers_keep_reference_counts():
    import qtpy

    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"{qtpy.API_NAME} {qtpy.QT_VERSION}: the check crashed\n{out.stderr[-2000:]}"
    d_none, d_true, d_false = (int(v) for v in out.stdout.split())
    # 200 emissions and 200 timers: a binding that drops references is off by hundreds
    assert max(abs(d_none), abs(d_true), abs(d_false)) < 50, (
        f"{qtpy.API_NAME} {qtpy.QT_VERSION} loses references (None {d_none}, True {d_true}, False {d_false}); "
        "see the PySide6 pin in pyproject.toml")
