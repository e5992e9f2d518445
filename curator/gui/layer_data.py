"""Swapping a napari layer's data fast: copying into the array the layer already shows, keeping
the layer list out of it, and redrawing thumbnails once the interface is idle.

The review layers are reused across cases; these helpers make moving on cost the copy of the new
arrays, not napari's re-derivation of dimensions and extent (see :func:`put`).
"""

from __future__ import annotations

import contextlib
import weakref

import numpy as np

__all__ = ["put", "own", "mark_owned", "set_scale", "IN_PLACE_MAX_BYTES"]

IN_PLACE_MAX_BYTES = 64 << 20


def put(layer, data: np.ndarray, listing=None) -> None:
    """Show ``data`` in ``layer``, copying it into the layer's own array when shape and type match.

    napari's ``data`` setter re-derives the layer's dimensions and the viewer's extent for every
    assignment (about half of a case switch, five layers at a time); copying into the array the
    layer already shows and refreshing the view skips that. The layer owns its array (a copy of
    ``data``), so painting never writes into the caller's. Very large volumes go through the setter,
    where a copy would cost more than it saves.

    ``listing``: the viewer's layer list. Every event of a layer is passed on to it, and its Qt
    model repaints the layer's row for any of them (7-13 ms in software OpenGL, part of every
    slider move); the in-place refresh changes nothing the row shows (its thumbnail follows when
    the interface is idle), so that refresh is not passed on.
    """
    cur = layer.data
    data = np.asarray(data)
    if (isinstance(cur, np.ndarray) and cur.shape == data.shape and cur.dtype == data.dtype
            and cur.flags.writeable and cur.nbytes <= IN_PLACE_MAX_BYTES and not np.may_share_memory(cur, data)
            and getattr(layer, "_curator_owned", None) is cur):
        np.copyto(cur, data)
        with _unlisted(layer, listing):
            layer.refresh(extent=False, thumbnail=False)
        _later_thumbnail(layer)
        return
    copy = own(data)
    layer.data = copy
    if copy is not data:
        mark_owned(layer)


def _unlisted(layer, listing):
    """Keep ``layer``'s events from its layer list for a while (napari's list passes every event of
    its layers on through ``_reemit_child_event``; without it, or without a list, nothing is kept)."""
    reemit = getattr(listing, "_reemit_child_event", None)
    return layer.events.blocker(reemit) if reemit is not None else contextlib.nullcontext()


_stale_thumbnails: "weakref.WeakSet" = weakref.WeakSet()


def _later_thumbnail(layer) -> None:
    """Redraw the layer's thumbnail once the interface is idle (a third of a second later):
    each one repaints the layer list (about 20 ms of a switch in software OpenGL)."""
    from qtpy.QtCore import QTimer

    if not _stale_thumbnails:
        QTimer.singleShot(300, _update_thumbnails)
    _stale_thumbnails.add(layer)


def _update_thumbnails() -> None:
    layers = list(_stale_thumbnails)
    _stale_thumbnails.clear()
    for layer in layers:
        try:
            layer._update_thumbnail()
        except Exception:  # noqa: BLE001 - a layer removed meanwhile; nothing to draw
            pass


def own(data: np.ndarray) -> np.ndarray:
    """A copy for a layer to own (see :func:`put`); very large arrays are shown as they are."""
    data = np.asarray(data)
    return data.copy() if data.nbytes <= IN_PLACE_MAX_BYTES else data


def mark_owned(layer) -> None:
    """Mark the array the layer now shows as its own, so :func:`put` may copy into it (only
    when it is a copy: the caller's array must never be painted on)."""
    if layer.data.nbytes <= IN_PLACE_MAX_BYTES:
        layer._curator_owned = layer.data


def set_scale(layer, scale, translate=None) -> None:
    """Set scale (and translate) only when they change: each assignment re-lays out the dims."""
    if not np.allclose(layer.scale, scale):
        layer.scale = scale
    if translate is not None and not np.allclose(layer.translate, translate):
        layer.translate = translate
