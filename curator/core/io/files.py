"""Atomic file writes, stale temporary files, CSV cells safe for spreadsheets, and OS errors in words.

All writes are atomic: written to a temporary file in the destination folder, flushed to disk and
renamed over the destination.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator, Sequence


def explain_os_error(exc: OSError, where=None) -> str:
    """One line for a user: what failed with a file system error, and what to do."""
    import errno

    where = where if where is not None else (getattr(exc, "filename", None) or "")
    if exc.errno == errno.ENOSPC or exc.errno == getattr(errno, "EDQUOT", -1):
        return f"the disk is full (while writing {where}); free some space and run it again"
    if exc.errno == errno.EROFS:
        return f"{where} is on a read-only file system; choose a folder you can write to"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to write {where}; choose a folder you can write to"
    if exc.errno == errno.ENAMETOOLONG:
        return f"a file name is too long for this file system ({where})"
    return f"{exc.strerror or exc} ({where})"




@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success fsync it and rename it over ``dest``.

    The temporary file keeps ``dest``'s suffix (libraries choose the format from it). On error the
    temporary file is removed and ``dest`` is left as it was.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    suffix = suffix if suffix is not None else "".join(dest.suffixes) or dest.suffix
    if len(suffix) > 16:  # a "suffix" taken from a name full of dots
        suffix = dest.suffix if len(dest.suffix) <= 16 else ""
    # the name stays well under the 255-byte limit whatever the destination's name; the pid lets a
    # later run tell a dead writer's leftover (see remove_stale_temp) from a live one's
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name[:80]}.{os.getpid()}-", suffix=TMP_MARK + suffix, dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, dest)
        fsync_dir(dest.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


TMP_MARK = ".tmp"


def remove_stale_temp(folder: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """Delete the temporary files :func:`atomic_path` left behind when its process was killed.

    Only files whose writing process is gone are removed (their names carry its pid), so a live
    writer in another process is never disturbed. Returns the paths removed.
    """
    import re

    pattern = re.compile(r"^\..*\.(\d+)-[A-Za-z0-9_]+\.tmp")
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    it = folder.rglob(".*") if recursive else folder.glob(".*")
    for p in it:
        m = pattern.match(p.name)
        if not m or not p.is_file() or p.is_symlink():
            continue
        if pid_alive(int(m.group(1))):
            continue
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p)
    return removed


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def atomic_write(dest: str | os.PathLike, data: bytes | str) -> None:
    """Write bytes or text to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ----------------------------------------------------------------------------------------------
# CSV files people open in spreadsheets

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_cell(value):
    """A CSV cell a spreadsheet will not run: text starting with ``= + - @`` (or a tab, a line
    break) gets a leading ``'`` (OWASP's advice against CSV injection), and so does text that
    already starts with ``'``, so :func:`csv_unescape` gives back exactly the original. Numbers are
    left alone."""
    if isinstance(value, str) and value and (value[0] in _FORMULA_START or value[0] == "'"):
        return "'" + value
    return value


def csv_unescape(cell: str) -> str:
    """The text :func:`csv_cell` escaped."""
    return cell[1:] if isinstance(cell, str) and cell.startswith("'") else cell


def write_csv(path: str | os.PathLike, header: Sequence[str], rows) -> None:
    """Write a CSV file atomically, every text cell escaped with :func:`csv_cell`."""
    import csv
    import io as _io

    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(header))
    for row in rows:
        w.writerow([csv_cell(v) for v in row])
    atomic_write(path, buf.getvalue())


def read_csv(path: str | os.PathLike) -> list[dict]:
    """The rows of a CSV file written by :func:`write_csv`, text cells unescaped."""
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: csv_unescape(v) for k, v in r.items()} for r in csv.DictReader(fh)]


# ----------------------------------------------------------------------------------------------
# Format detection


def safe_name(case_id: str) -> str:
    """A file-name-safe, short form of a case id, one per id: an id that had to be changed (other
    characters replaced, or longer than 100) carries a hash of the original, so ``a b`` and
    ``a_b`` never share a file, and a 240-character id still makes a valid file name."""
    safe = re.sub(r"[^A-Za-z0-9._~+-]", "_", case_id)
    if safe.startswith("."):
        safe = "_" + safe[1:]
    if safe == case_id and len(safe) <= 100:
        return safe
    digest = hashlib.sha256(case_id.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{safe[:90]}-{digest}"
