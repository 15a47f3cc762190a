"""Writing a file whole or not at all: the one place where optfn replaces a file on disk.

:func:`write_atomic` (used by :func:`~optfn.io.save_config` and
:func:`~optfn.checkpoint.save_checkpoint`) writes the new content to a temporary file beside
the target, flushes it to the disk (``fsync``), renames it over the target (``os.replace``)
and flushes the folder, so that:

- **a killed or failing save** (``SIGKILL``, a full disk, an exception from the writer, a
  failed rename) leaves the old file as it was, or the new one complete: never a mix, never
  a truncated file. A failure that Python sees removes the temporary file; a kill leaves it
  behind, and the next successful save of the same target removes it (see below);
- **a power loss** after :func:`write_atomic` returns keeps the new file; during the call it
  keeps the old file or the new one, complete, on a filesystem that honours ``fsync`` (ext4,
  XFS, btrfs, ZFS, APFS with ``F_FULLFSYNC``...; a network filesystem may promise less).

The details, each chosen to behave as ``open(path, "w")`` would where it can:

- **Symbolic links** are kept: a target that is a link (or a chain of links, relative or
  absolute) is resolved with :func:`os.path.realpath` and the file it finally points to is
  replaced, in that file's folder. A dangling link writes the file it points to (as
  ``open`` does; its folder must exist), a loop of links is an ``OSError`` (``ELOOP``).
- **Permissions**: a replaced file keeps its permission bits (``st_mode & 0o7777``) and, where
  the system lets this user, its owner and group. A new file gets what ``open`` gives it
  (``0o666`` less the umask): the kernel applies the umask when the temporary file is created,
  so it is never read or changed (``os.umask`` is process-global and not thread-safe).
  The temporary file of a replaced file is created private (``0o600``) and takes the old
  file's mode before a byte is written: a private file is never readable. Hard links to the
  old file keep the old content (a rename makes a new file).
- **A path that names a folder** (``"run.toml/"``, ``"dir/."``, an empty path) is refused
  before anything is written; a target that is an existing folder is an
  ``IsADirectoryError``.
- **Temporary files** are named ``.NAME.optfn-HOST-PID-RANDOM.tmp`` (a ``NAME`` over 200
  bytes is cut and hashed, to stay within the usual 255-byte limit): ``HOST`` is 8 hex digits
  of a hash of the host name and the PID namespace, ``PID`` the writing process. After a
  successful save, such files of the same target whose ``HOST`` is this machine's (same
  namespace) and whose process is gone (``os.kill(pid, 0)`` raises ``ProcessLookupError``) are
  removed: they were left by a killed save. Any other leftover stays: one of a live process
  (another save in flight, this process's own included), of another host sharing the folder
  (a network filesystem), or named otherwise (the ``.NAME.XXXXXXXX.tmp`` files of earlier
  optfn versions). On Windows, where ``os.kill`` would end the process, none is removed.
- **Where fsync cannot be done** it is skipped silently: on Windows (a folder cannot be opened
  there), when the filesystem answers ``EINVAL``/``ENOTSUP`` (it does not support it), and
  when this user may not open the folder for reading. Any other error of ``fsync`` is raised;
  one from the folder's ``fsync`` comes after the rename (the new file is in place but may
  not survive a power loss).

>>> import tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "note.txt"
>>> write_atomic(path, b"hello")
>>> write_atomic(path, lambda f: f.write(b"hello again"))
>>> path.read_bytes(), [p.name for p in path.parent.iterdir()]
(b'hello again', ['note.txt'])
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import socket
import stat
import sys
from collections.abc import Callable
from typing import BinaryIO

from optfn.errors import SpecError, SpecTypeError
from optfn.specs.render import show

__all__ = ["Writer", "check_file_path", "host_tag", "temp_pattern", "temp_stem", "write_atomic"]

#: A function that writes the whole content to the binary file it is given (``torch.save``).
Writer = Callable[[BinaryIO], object]

#: ``errno`` values with which a platform or a filesystem says it cannot ``fsync`` this file.
FSYNC_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})


def check_file_path(owner: str, field: str, path: str | os.PathLike[str]) -> None:
    """Raise :class:`~optfn.errors.SpecError` (``owner.field``) if ``path`` names a folder.

    ``Path("run.toml/")`` is ``Path("run.toml")``: the trailing separator that says "a folder"
    is lost once a string becomes a :class:`~pathlib.Path`, so this reads the text itself.

    >>> check_file_path("save_config", "path", "runs/a.toml")
    >>> try:
    ...     check_file_path("save_config", "path", "runs/a.toml/")
    ... except SpecError as e:
    ...     print(e)
    save_config.path: must name a file, got 'runs/a.toml/', which ends in '/' (a folder)
    """
    text = os.fsdecode(os.fspath(path))
    seps = tuple(s for s in (os.sep, os.altsep) if s)
    if not text:
        raise SpecError(owner, field, "must name a file, got an empty path ('')")
    if text.endswith(seps):
        raise SpecError(
            owner, field, f"must name a file, got {text!r}, which ends in {text[-1]!r} (a folder)"
        )
    last = re.split("|".join(map(re.escape, seps)), text)[-1]
    if last in (".", ".."):
        raise SpecError(
            owner, field, f"must name a file, got {text!r}, which ends in {last!r} (a folder)"
        )


def write_atomic(
    target: str | os.PathLike[str], data: bytes | bytearray | memoryview | Writer
) -> None:
    """Replace the file at ``target`` with ``data`` (bytes), or with what ``data(f)`` writes
    to the binary file ``f`` it is given: whole or not at all (see the module's notes).

    A failure at any stage (the writer's own exception, ``ENOSPC``, the ``fsync``, the rename)
    is raised after the temporary file is removed, and leaves ``target`` as it was; only an
    error of the folder's ``fsync`` comes after the rename, with the new file in place.
    """
    if not isinstance(target, (str, os.PathLike)):
        raise SpecTypeError(
            "write_atomic", "target", f"must be a str or a Path, got {show(target)}"
        )
    if isinstance(data, (bytes, bytearray, memoryview)):
        write = _writer_of(data)
    elif callable(data):
        write = data
    else:
        raise SpecTypeError(
            "write_atomic",
            "data",
            f"must be bytes or a function that writes to a binary file, got {show(data)}",
        )
    check_file_path("write_atomic", "target", target)
    given = os.fsdecode(os.fspath(target))
    final = _final_target(given)
    folder, name = os.path.split(final)
    folder = folder or os.curdir
    old = _existing(final)
    tag, pid = host_tag(), os.getpid()
    fd, tmp = _create_temp(folder, name, tag, pid, private=old is not None, given=given)
    try:
        if old is not None:
            try:
                _take_owner_and_mode(fd, tmp, old)
            except BaseException:
                os.close(fd)
                raise
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            _fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)
    _remove_stale(folder, name, tag, pid)


# ---- the steps ---------------------------------------------------------------------------------
def _writer_of(content: bytes | bytearray | memoryview) -> Writer:
    def write(f: BinaryIO) -> object:
        return f.write(content)

    return write


def _final_target(path: str) -> str:
    """The file that writing to ``path`` changes: ``path``, or where its links lead."""
    if not os.path.islink(path):
        return path
    real = os.path.realpath(path)
    if os.path.islink(real):  # realpath stops at a loop and returns a link
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
    return real


def _existing(final: str) -> os.stat_result | None:
    """The stat of the file to replace, ``None`` if there is none; a folder is refused."""
    try:
        st = os.stat(final)
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), final)
    return st


def host_tag() -> str:
    """8 hex digits naming this host and PID namespace: a PID means this process only here."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except (OSError, AttributeError):
        namespace = ""
    text = f"{socket.gethostname()}\0{namespace}"
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def temp_stem(name: str) -> str:
    """``name`` as the temporary files' names hold it: whole, or cut and hashed when it is so
    long that the extra ~40 characters would pass the usual 255-byte limit of a file's name."""
    if len(os.fsencode(name)) <= 200:
        return name
    return f"{name[:40]}~{hashlib.sha256(os.fsencode(name)).hexdigest()[:16]}"


def temp_pattern(name: str, tag: str) -> re.Pattern[str]:
    """The names of :func:`write_atomic`'s temporary files for ``name`` on host ``tag``, with
    the writer's ``pid`` as a group.

    >>> pattern = temp_pattern("ckpt.pt", "0a1b2c3d")
    >>> int(pattern.fullmatch(".ckpt.pt.optfn-0a1b2c3d-4242-9f8e7d6c.tmp")["pid"])
    4242
    """
    stem = re.escape(temp_stem(name))
    pid = "(?P<pid>[1-9][0-9]{0,9})"
    return re.compile(rf"\.{stem}\.optfn-{re.escape(tag)}-{pid}-[0-9a-f]{{8}}\.tmp")


def _create_temp(
    folder: str, name: str, tag: str, pid: int, *, private: bool, given: str
) -> tuple[int, str]:
    # A new file gets 0o666 less the umask from the kernel, as open() gives it; the temporary
    # file of a replaced one stays private until it takes the old file's mode.
    mode = 0o600 if private else 0o666
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        random = secrets.token_hex(4)
        tmp = os.path.join(folder, f".{temp_stem(name)}.optfn-{tag}-{pid}-{random}.tmp")
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue
        except OSError as exc:  # no such folder, no permission...: name the target, not tmp
            raise OSError(exc.errno, exc.strerror, given) from None
    raise FileExistsError(errno.EEXIST, "no free name for a temporary file beside", given)


def _take_owner_and_mode(fd: int, tmp: str, old: os.stat_result) -> None:
    """Give the temporary file the old file's owner and group where this user may (each
    silently kept otherwise), then its permission bits (after: a chown clears setuid)."""
    if hasattr(os, "fchown"):
        now = os.fstat(fd)
        if now.st_gid != old.st_gid:  # a group this user belongs to: allowed
            with contextlib.suppress(OSError):
                os.fchown(fd, -1, old.st_gid)
        if now.st_uid != old.st_uid:  # another user: only root may
            with contextlib.suppress(OSError):
                os.fchown(fd, old.st_uid, -1)
    mode = stat.S_IMODE(old.st_mode)
    if os.chmod in os.supports_fd:
        os.chmod(fd, mode)
    else:  # Windows before Python 3.13
        os.chmod(tmp, mode)


def _fsync(fd: int) -> None:
    """Flush ``fd``'s data to the disk; skipped where the filesystem says it cannot."""
    if sys.platform == "darwin":  # macOS's fsync stops at the drive's cache
        import fcntl

        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
            return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in FSYNC_UNSUPPORTED:
            raise


def _fsync_folder(folder: str) -> None:
    """Flush the folder's entries (the rename) to the disk, where the platform can."""
    if os.name == "nt":  # a folder cannot be opened as a file on Windows
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except PermissionError:  # a folder this user may write to but not read
        return
    try:
        _fsync(fd)
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` may exist here: ``False`` only when the OS says it does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):  # another user's (EPERM), or unknowable
        return True
    return True


def _remove_stale(folder: str, name: str, tag: str, me: int) -> None:
    """Remove the temporary files of ``name`` left by killed saves on this host (see the
    module's notes); anything that cannot be proved stale, or removed, stays."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there
        return
    pattern = temp_pattern(name, tag)
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            found = pattern.fullmatch(entry.name)
            if found is None:
                continue
            pid = int(found["pid"])
            if pid == me or _alive(pid):  # this process's other threads, or a live writer
                continue
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
