"""Crash-safe output files: write to a temporary file beside the target, fsync, rename.

A reader of ``report.html`` or ``results.parquet`` sees the old file or the new one,
whole, never a half-written one, whatever kills the writer (SIGKILL, power loss, a full
disk): :func:`os.replace` swaps the name in one step, and the data is fsync'ed before it.
A failed write removes its temporary file and leaves the old output as it was.

Before a long run, :func:`prepare_out` checks that its outputs can be written at all (a
name of UTF-8 text within the file system's limits, the folder created, a file written
there and removed), so a run that cannot save fails in its first second, not after it
has measured or swept for an hour.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_text_atomic(folder / "a.txt", "hello\\n").read_text()
'hello\\n'
>>> with atomic_path(folder / "b.bin") as tmp:
...     _ = tmp.write_bytes(b"\\x00\\x01")   # any writer that needs a path
>>> (folder / "b.bin").read_bytes(), sorted(p.name for p in folder.iterdir())
(b'\\x00\\x01', ['a.txt', 'b.bin'])
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from .errors import SparsimError, shown

__all__ = ["write_text_atomic", "write_bytes_atomic", "atomic_path", "atomic_group", "fsync_dir", "TMP_PREFIX",
           "check_path_name", "prepare_out", "NAME_MAX_BYTES", "PATH_MAX_BYTES"]

#: temporary files start with this, so a crash's leftovers are recognisable
TMP_PREFIX = ".sparsim-tmp-"
#: longest name of one path component and longest whole path, in bytes (Linux NAME_MAX
#: 255 and PATH_MAX 4096 with its NUL, <linux/limits.h>; also the limits of ext4 and XFS)
NAME_MAX_BYTES, PATH_MAX_BYTES = 255, 4095


def check_path_name(path: str | Path, label: str = "--out") -> Path:
    """``path`` if its name can be written, in files and on disk: UTF-8 text (a byte that
    is not UTF-8 reaches Python as a lone surrogate, which no UTF-8 file can hold), no
    component over :data:`NAME_MAX_BYTES`, the whole under :data:`PATH_MAX_BYTES`.

    >>> check_path_name("out/" + "x" * 300)
    Traceback (most recent call last):
    ...
    sparsim.errors.SparsimError: --out: got a name of 300 bytes ('xxx...); allowed: names of at most 255 bytes
    """
    text = os.fspath(path)
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        raise SparsimError(f"{label}: got {shown(text)}, which is not valid UTF-8 text; "
                           "allowed: a path whose name is UTF-8 text") from None
    if b"\x00" in encoded:
        raise SparsimError(f"{label}: got {shown(text)}, which holds a NUL byte; allowed: a path without NUL")
    if len(encoded) > PATH_MAX_BYTES:
        raise SparsimError(f"{label}: got a path of {len(encoded):,} bytes; allowed: at most {PATH_MAX_BYTES:,}")
    for part in Path(text).parts:
        size = len(part.encode("utf-8"))
        if size > NAME_MAX_BYTES:
            raise SparsimError(f"{label}: got a name of {size} bytes ({shown(part, 40)}); "
                               f"allowed: names of at most {NAME_MAX_BYTES} bytes")
    return Path(text)


def prepare_out(path: str | Path, label: str = "--out", folder: bool = True) -> Path:
    """Check, before any work, that output can be written at ``path`` (a folder, or with
    ``folder=False`` a file): its name (:func:`check_path_name`), the folder created if
    missing, and a file written there and removed. Returns ``path``."""
    path = check_path_name(path, label)
    target = path if folder else path.parent
    try:
        if folder and path.exists() and not path.is_dir():
            raise SparsimError(f"{label}: {shown(str(path), 240)} is a file; allowed: a folder (new or existing)")
        if not folder and path.is_dir():
            raise SparsimError(f"{label}: {shown(str(path), 240)} is a folder; allowed: a file path")
        for above in (target, *target.parents):  # the nearest existing folder on the way
            if above.exists():
                if not above.is_dir():
                    raise SparsimError(f"{label}: {shown(str(above), 240)} is a file, not a folder; "
                                       f"allowed: a path under a folder")
                break
        target.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=TMP_PREFIX, dir=target)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise SparsimError(f"{label}: cannot write in {shown(str(target), 240)}: {exc.strerror or exc}; "
                           "allowed: a folder that can be created and written") from None
    return path


def fsync_dir(folder: str | Path) -> None:
    """Make a rename inside ``folder`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _check_replaceable(path: Path, label: str) -> None:
    """Refuse to rename a file over a device, FIFO or socket: os.replace would put a regular
    file in place of /dev/null (as root) instead of writing to it."""
    try:
        mode = os.lstat(path).st_mode
    except (OSError, ValueError):
        return  # absent (or unreachable: the write itself says why)
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode) or stat.S_ISDIR(mode)):
        raise SparsimError(f"{label}: got {path}, a device or special file; allowed: the path of a regular file "
                           "(or of a new one)")


def _fail(path: Path, exc: OSError, label: str) -> SparsimError:
    return SparsimError(f"{label}: cannot write {path}: {exc.strerror or exc}; allowed: a writable path")


@contextlib.contextmanager
def atomic_path(path: str | Path, label: str = "--out") -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on success it becomes ``path``.

    For writers that want a file name (``pyarrow.parquet.write_table``, ``DataFrame.to_csv``,
    altair's ``save``). ``label`` names the argument in errors.
    """
    path = Path(path)
    folder = path.parent
    _check_replaceable(path, label)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=path.suffix, dir=folder)
        os.close(fd)
    except OSError as exc:
        raise _fail(path, exc, label) from None
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual mode
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise _fail(path, exc, label) from None
    except BaseException:
        _remove(tmp)
        raise
    fsync_dir(folder)


@contextlib.contextmanager
def atomic_group(label: str = "--out") -> Iterator[Callable[[str | Path], Path]]:
    """Write several files that belong together; all are renamed into place at the end.

    Yields ``temp(path) -> temporary path``; every file is written and fsync'ed before the
    first rename, so a crash while writing (the slow part) leaves every old file as it was,
    and the renames that follow take microseconds. Renamed in the order asked for.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_group() as temp:
    ...     _ = temp(folder / "a.csv").write_text("x\\n1\\n")
    ...     _ = temp(folder / "b.json").write_text("{}")
    >>> sorted(p.name for p in folder.iterdir())
    ['a.csv', 'b.json']
    """
    staged: list[tuple[Path, Path]] = []

    def temp(path: str | Path) -> Path:
        path = Path(path)
        _check_replaceable(path, label)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=path.suffix, dir=path.parent)
            os.close(fd)
        except OSError as exc:
            raise _fail(path, exc, label) from None
        staged.append((Path(name), path))
        return Path(name)

    try:
        yield temp
        for tmp, path in staged:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_UMASK)
        for tmp, path in staged:
            os.replace(tmp, path)
    except OSError as exc:
        for tmp, _ in staged:
            _remove(tmp)
        raise _fail(staged[-1][1] if staged else Path("."), exc, label) from None
    except BaseException:
        for tmp, _ in staged:
            _remove(tmp)
        raise
    for folder in dict.fromkeys(path.parent for _, path in staged):
        fsync_dir(folder)


def write_bytes_atomic(path: str | Path, data: bytes, label: str = "--out") -> Path:
    """Write ``data`` to ``path`` so that ``path`` is always whole (old or new)."""
    path = Path(path)
    with atomic_path(path, label) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return path


def write_text_atomic(path: str | Path, text: str, label: str = "--out", encoding: str = "utf-8") -> Path:
    """:func:`write_bytes_atomic` for text."""
    return write_bytes_atomic(path, text.encode(encoding), label)


def _remove(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        tmp.unlink()


def _read_umask() -> int:
    # os.umask can only be read by setting it: done once, at import, before any threads
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
