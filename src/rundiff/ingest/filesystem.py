"""The file system of a downloaded run folder, asked questions that never raise and never block.

A folder someone else made can hold symlink loops, FIFOs, links to `/dev/zero`, unreadable files,
10 GB sparse files, names that are not UTF-8, 1000 nested folders and paths naming `~nosuchuser`
or holding NUL bytes. Every question ingest asks of a path goes through here, so each of those is
an answer ("not a regular file", "not here") at the place the folder is walked, not a traceback
somewhere later.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from rundiff.errors import RundiffError

#: Never descend further than this below the walked folder, whatever the caller's own bound.
MAX_WALK_DEPTH = 64
#: Stop listing one folder after this many entries (a folder of a million files is not a run).
MAX_ENTRIES_PER_FOLDER = 200_000

OnSkip = Callable[[Path, str], None]


def _stat(path: Path | str) -> os.stat_result | None:
    """stat() following links; None for anything that is not there to be read (loops, long names, NUL)."""
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None


def is_regular_file(path: Path | str) -> bool:
    """A plain file (possibly through a symlink): not a FIFO, device, socket, loop or folder."""
    st = _stat(path)
    return st is not None and stat.S_ISREG(st.st_mode)


def is_directory(path: Path | str) -> bool:
    st = _stat(path)
    return st is not None and stat.S_ISDIR(st.st_mode)


def exists(path: Path | str) -> bool:
    return _stat(path) is not None


def not_regular_reason(path: Path | str) -> str | None:
    """Why a path is not a plain file rundiff may read, or None when it is one."""
    try:
        st = os.stat(path)
    except ValueError:
        return "the name holds a NUL byte"
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "a symlink loop"
        return f"cannot be read ({err.strerror or err})"
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file"
    return "not a regular file"


def resolved(path: Path) -> Path:
    """``path.resolve()``, or the absolute path when it cannot be resolved (a loop, a long name)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return Path(os.path.abspath(path))


def expand_user(value: str) -> Path:
    """``~`` and ``~user`` expanded where that user exists; otherwise the path as written."""
    try:
        return Path(value).expanduser()
    except (RuntimeError, KeyError, ValueError):
        return Path(value)


def _open_regular(path: Path) -> int:
    """A descriptor of a plain file, opened without blocking (a FIFO would wait forever for a
    writer) and checked with fstat on the open descriptor, so a link swapped after a check
    changes nothing."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except ValueError:
        raise RundiffError("cannot read: the name holds a NUL byte", path) from None
    except OSError as err:
        why = "a symlink loop" if err.errno == errno.ELOOP else err.strerror or str(err)
        raise RundiffError(f"cannot read: {why}", path) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RundiffError(f"not read: {not_regular_reason(path) or 'not a regular file'}", path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_up_to(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total < size:
        chunk = os.read(fd, min(1 << 20, size - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def read_bytes(path: Path, limit: int) -> bytes:
    """The bytes of a plain file of at most ``limit`` bytes; anything else is one RundiffError."""
    fd = _open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise RundiffError(f"file is {size} bytes, over the {limit}-byte limit for this kind of file", path)
        raw = _read_up_to(fd, limit + 1)
        if len(raw) > limit:  # the file grew while it was read
            raise RundiffError(f"file is over the {limit}-byte limit for this kind of file", path)
        return raw
    except OSError as err:
        raise RundiffError(f"cannot read: {err.strerror or err}", path) from None
    finally:
        os.close(fd)


def read_head(path: Path, size: int) -> bytes:
    """At most the first ``size`` bytes of a plain file (a caption, a file's magic number)."""
    fd = _open_regular(path)
    try:
        return _read_up_to(fd, size)
    except OSError as err:
        raise RundiffError(f"cannot read: {err.strerror or err}", path) from None
    finally:
        os.close(fd)


def walk(
    root: Path, *, max_depth: int = MAX_WALK_DEPTH, on_skip: OnSkip | None = None
) -> Iterator[tuple[Path, list[str], list[str]]]:
    """``os.walk`` for run folders: top-down, iterative, bounded, and never raising.

    Yields (folder, sub-folder names, file names) like ``os.walk``; the caller may prune the
    sub-folder list in place. File names are plain files only (through symlinks too). Symlinked
    folders are listed but not entered (as ``os.walk``), folders deeper than ``max_depth`` are not listed,
    and what cannot be listed or is not a plain file (FIFOs, devices, sockets, links in a loop or
    to nothing) goes to ``on_skip(path, reason)`` instead of raising.
    """
    max_depth = min(max_depth, MAX_WALK_DEPTH)
    skip = on_skip or (lambda _path, _reason: None)
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        dirs: list[str] = []
        files: list[str] = []
        links: set[str] = set()
        try:
            with os.scandir(folder) as entries:
                for count, entry in enumerate(entries):
                    if count >= MAX_ENTRIES_PER_FOLDER:
                        skip(folder, f"more than {MAX_ENTRIES_PER_FOLDER} entries; the rest were not listed")
                        break
                    _sort_entry(entry, folder, dirs, files, links, skip)
        except (OSError, ValueError) as err:
            skip(folder, f"folder cannot be listed ({getattr(err, 'strerror', None) or err})")
            continue
        dirs.sort()
        files.sort()
        yield folder, dirs, files
        if depth + 1 > max_depth:
            if dirs:
                skip(folder, f"deeper than {max_depth} folders below {root} (not entered)")
            continue
        stack.extend((folder / d, depth + 1) for d in reversed(dirs) if d not in links)


def _sort_entry(
    entry: os.DirEntry, folder: Path, dirs: list[str], files: list[str], links: set[str], skip: OnSkip
) -> None:
    try:
        if entry.is_dir(follow_symlinks=False):
            dirs.append(entry.name)
            return
        if entry.is_symlink() and is_directory(entry.path):
            dirs.append(entry.name)  # listed, as os.walk lists it, but never entered
            links.add(entry.name)
            return
        if entry.is_file(follow_symlinks=True):
            files.append(entry.name)
            return
    except OSError:
        pass
    skip(folder / entry.name, not_regular_reason(entry.path) or "not a regular file")
