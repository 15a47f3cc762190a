"""Issue 24: ``save_config`` and ``save_checkpoint`` write a whole file or nothing, durably.

Both go through :func:`optfn.io.atomic.write_atomic`. Failures are injected at every stage (a
full disk mid-write, a failed ``fsync``, a crash before the rename, a ``SIGKILL`` mid-write);
each time the target holds the old file or the new one, complete, with its mode, and no
temporary file is left but a live writer's.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
import torch
from torch import nn

from optfn import AdamWSpec, OptimConfig, make_optimizer
from optfn.checkpoint import load_checkpoint, save_checkpoint
from optfn.errors import SpecError, SpecTypeError
from optfn.io import load_config, save_config
from optfn.io.atomic import host_tag, temp_pattern, temp_stem, write_atomic

OPT = make_optimizer(nn.Linear(2, 1), AdamWSpec())


# ---- the two savers, each with a way to tell its versions apart ---------------------------------
def _save_config(path: str | os.PathLike[str], version: int) -> None:
    save_config(OptimConfig(optimizer=AdamWSpec(learning_rate=version * 1e-3)), path)


def _config_version(path: str | os.PathLike[str]) -> int:
    lr: float = load_config(path).optimizer.learning_rate
    return round(lr * 1e3)


def _save_checkpoint(path: str | os.PathLike[str], version: int) -> None:
    save_checkpoint(path, config=AdamWSpec(), optimizer=OPT, extra={"version": version})


def _checkpoint_version(path: str | os.PathLike[str]) -> int:
    version = load_checkpoint(path).extra["version"]
    assert isinstance(version, int)
    return version


Saver = tuple[str, Callable[[Any, int], None], Callable[[Any], int]]
SAVERS: list[Saver] = [
    ("run.toml", _save_config, _config_version),
    ("run.json", _save_config, _config_version),
    ("ckpt.pt", _save_checkpoint, _checkpoint_version),
]
IDS = [s[0] for s in SAVERS]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Set the process umask for one test, restored after."""
    old = os.umask(0o022)

    def set_umask(mask: int) -> None:
        os.umask(mask)

    yield set_umask
    os.umask(old)


# ---- 1. fsync: the file before the rename, the folder after ---------------------------------
@pytest.mark.parametrize("saver", SAVERS, ids=IDS)
def test_fsync_the_file_before_the_rename_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, saver: Saver
) -> None:
    name, save, version_of = saver
    path = tmp_path / name
    save(path, 1)
    events: list[tuple[str, int]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        events.append(("fsync folder" if stat.S_ISDIR(st.st_mode) else "fsync file", st.st_ino))
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        events.append(("replace", os.stat(src).st_ino))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    save(path, 2)
    monkeypatch.undo()
    new_file = path.stat().st_ino
    assert events == [
        ("fsync file", new_file),  # the temporary file, which became the target
        ("replace", new_file),
        ("fsync folder", tmp_path.stat().st_ino),
    ]
    assert version_of(path) == 2


@pytest.mark.parametrize("saver", SAVERS, ids=IDS)
def test_a_failed_fsync_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, saver: Saver
) -> None:
    name, save, version_of = saver
    path = tmp_path / name
    save(path, 1)
    path.chmod(0o640)

    def no_space(fd: int) -> None:  # a network filesystem reports ENOSPC at fsync
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError) as info:
        save(path, 2)
    monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC
    assert version_of(path) == 1 and _mode(path) == 0o640
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("errno_value", [errno.EINVAL, errno.ENOTSUP])
def test_fsync_unsupported_by_the_filesystem_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, errno_value: int
) -> None:
    def unsupported(fd: int) -> None:
        raise OSError(errno_value, os.strerror(errno_value))

    monkeypatch.setattr(os, "fsync", unsupported)
    write_atomic(tmp_path / "note.txt", b"hello")
    monkeypatch.undo()
    assert (tmp_path / "note.txt").read_bytes() == b"hello"
    assert _leftovers(tmp_path) == []


def test_an_fsync_error_of_the_folder_is_raised_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync

    def folder_fails(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", folder_fails)
    with pytest.raises(OSError) as info:
        write_atomic(tmp_path / "note.txt", b"hello")
    monkeypatch.undo()
    assert info.value.errno == errno.EIO
    assert (tmp_path / "note.txt").read_bytes() == b"hello"  # in place, maybe not on the disk
    assert _leftovers(tmp_path) == []


# ---- failures injected at each stage -----------------------------------------------------------
def _no_space_midway(f: BinaryIO) -> None:
    f.write(b"x" * 10_000)  # some bytes made it, then the disk is full
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("existing", [True, False], ids=["replacing", "new"])
def test_a_full_disk_midway_leaves_the_old_file(tmp_path: Path, existing: bool) -> None:
    path = tmp_path / "note.txt"
    if existing:
        write_atomic(path, b"old")
        path.chmod(0o604)
    with pytest.raises(OSError) as info:
        write_atomic(path, _no_space_midway)
    assert info.value.errno == errno.ENOSPC
    if existing:
        assert path.read_bytes() == b"old" and _mode(path) == 0o604
    else:
        assert not path.exists()
    assert _leftovers(tmp_path) == []


def test_a_full_disk_midway_through_torch_save_leaves_the_old_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ckpt.pt"
    _save_checkpoint(path, 1)
    path.chmod(0o640)
    monkeypatch.setattr(torch, "save", lambda obj, f: _no_space_midway(f))
    with pytest.raises(OSError) as info:
        _save_checkpoint(path, 2)
    monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC
    assert _checkpoint_version(path) == 1 and _mode(path) == 0o640
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("saver", SAVERS, ids=IDS)
def test_a_crash_between_fsync_and_rename_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, saver: Saver
) -> None:
    name, save, version_of = saver
    path = tmp_path / name
    save(path, 1)
    path.chmod(0o600)
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    def crash(src: Any, dst: Any) -> None:
        assert synced, "the temporary file is flushed to the disk before the rename"
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        save(path, 2)
    monkeypatch.undo()
    assert version_of(path) == 1 and _mode(path) == 0o600
    assert _leftovers(tmp_path) == []


# A save killed mid-write: torch.save writes half of the real payload, says so, and waits.
KILLED_WRITER = """
import io, sys, torch
from optfn import AdamWSpec, make_optimizer
from optfn.checkpoint import save_checkpoint

real_save = torch.save

def half_then_wait(obj, f):
    buf = io.BytesIO()
    real_save(obj, buf)
    data = buf.getvalue()
    f.write(data[: len(data) // 2])
    f.flush()
    print("writing", flush=True)
    sys.stdin.read()  # until killed
    f.write(data[len(data) // 2 :])

torch.save = half_then_wait
model = torch.nn.Linear(256, 256)  # a 256 KiB payload
opt = make_optimizer(model, AdamWSpec())
save_checkpoint(sys.argv[1], config=AdamWSpec(), optimizer=opt, model=model, extra={"version": 9})
"""


def test_a_killed_save_leaves_the_old_file_and_the_next_save_cleans_up(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    _save_checkpoint(path, 1)
    path.chmod(0o640)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, proc.kill)  # never hang the suite on a stuck child
    watchdog.start()
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        assert line == "writing\n", proc.stderr.read()
        (in_flight,) = _leftovers(tmp_path)
        found = temp_pattern(path.name, host_tag()).fullmatch(in_flight)
        assert found is not None and int(found["pid"]) == proc.pid
        assert (tmp_path / in_flight).stat().st_size > 0  # part of the payload is there

        _save_checkpoint(path, 2)  # a save beside a live writer leaves its file alone
        assert _leftovers(tmp_path) == [in_flight]
        assert _checkpoint_version(path) == 2 and _mode(path) == 0o640
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        watchdog.cancel()
    assert proc.returncode == -signal.SIGKILL
    assert _checkpoint_version(path) == 2 and _mode(path) == 0o640  # the old file, whole
    assert _leftovers(tmp_path) == [in_flight]  # the killed writer's file, until...

    _save_checkpoint(path, 3)  # ...the next successful save removes it
    assert _leftovers(tmp_path) == []
    assert _checkpoint_version(path) == 3 and _mode(path) == 0o640


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("saver", SAVERS, ids=IDS)
def test_only_provably_stale_temporary_files_are_removed(tmp_path: Path, saver: Saver) -> None:
    name, save, version_of = saver
    path = tmp_path / name
    tag, dead = host_tag(), _dead_pid()
    other_tag = "0" * 8 if tag != "0" * 8 else "1" * 8
    stale = f".{name}.optfn-{tag}-{dead}-0123abcd.tmp"
    kept = [
        f".{name}.optfn-{tag}-{os.getppid()}-0123abcd.tmp",  # a live process
        f".{name}.optfn-{tag}-{os.getpid()}-0123abcd.tmp",  # this one (another thread's)
        f".{name}.optfn-{other_tag}-{dead}-0123abcd.tmp",  # another host sharing the folder
        f".{name}.a1b2c3d4.tmp",  # an earlier optfn's mkstemp name: not provably ours
        f".other{name}.optfn-{tag}-{dead}-0123abcd.tmp",  # another target's
    ]
    for leftover in [stale, *kept]:
        (tmp_path / leftover).write_bytes(b"partial")
    (tmp_path / f".{name}.optfn-{tag}-{dead}-4567abcd.tmp").mkdir()  # not a file: kept
    kept.append(f".{name}.optfn-{tag}-{dead}-4567abcd.tmp")
    save(path, 1)
    assert version_of(path) == 1
    assert _leftovers(tmp_path) == sorted(kept)


def test_the_temporary_file_is_named_with_this_process(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    seen: list[str] = []

    def writer(f: BinaryIO) -> None:
        seen.extend(_leftovers(tmp_path))
        f.write(b"data")

    write_atomic(path, writer)
    (name,) = seen
    found = temp_pattern("ckpt.pt", host_tag()).fullmatch(name)
    assert found is not None and int(found["pid"]) == os.getpid()
    assert _leftovers(tmp_path) == []


def test_a_long_name_leaves_room_for_the_temporary_file(tmp_path: Path) -> None:
    name = "c" * 240 + ".pt"  # a valid name (< 255 bytes); ".NAME.XXXXXXXX.tmp" would not be
    stale = f".{temp_stem(name)}.optfn-{host_tag()}-{_dead_pid()}-0123abcd.tmp"
    (tmp_path / stale).write_bytes(b"partial")
    write_atomic(tmp_path / name, b"data")
    assert (tmp_path / name).read_bytes() == b"data"
    assert _leftovers(tmp_path) == []


# ---- 2. symbolic links are kept ------------------------------------------------------------------
@pytest.mark.parametrize("saver", SAVERS, ids=IDS)
def test_saving_through_a_link_keeps_the_link(tmp_path: Path, saver: Saver) -> None:
    name, save, version_of = saver
    real = tmp_path / f"step_1.{name}"
    save(real, 1)
    real.chmod(0o600)
    link = tmp_path / name
    link.symlink_to(real.name)  # relative, as `ln -s step_1.ckpt.pt ckpt.pt` makes it
    save(link, 2)
    assert link.is_symlink() and os.readlink(link) == real.name
    assert version_of(real) == 2 and _mode(real) == 0o600
    assert _leftovers(tmp_path) == []


def test_a_chain_of_links_across_folders(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    real = tmp_path / "b" / "real.toml"
    _save_config(real, 1)
    middle = tmp_path / "b" / "middle.toml"
    middle.symlink_to("real.toml")
    first = tmp_path / "a" / "run.toml"
    first.symlink_to(Path("..") / "b" / "middle.toml")
    absolute = tmp_path / "abs.toml"
    absolute.symlink_to(first)
    _save_config(absolute, 2)
    assert _config_version(real) == 2
    assert os.readlink(absolute) == str(first)
    assert os.readlink(first) == str(Path("..") / "b" / "middle.toml")
    assert os.readlink(middle) == "real.toml"
    for folder in (tmp_path, tmp_path / "a", tmp_path / "b"):
        assert _leftovers(folder) == []


def test_a_dangling_link_writes_the_file_it_points_to(tmp_path: Path, umask: Any) -> None:
    umask(0o022)
    link = tmp_path / "ckpt.pt"
    link.symlink_to("step_7.pt")
    _save_checkpoint(link, 7)
    assert link.is_symlink() and os.readlink(link) == "step_7.pt"
    assert _checkpoint_version(tmp_path / "step_7.pt") == 7
    assert _mode(tmp_path / "step_7.pt") == 0o644


def test_a_loop_of_links_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.toml").symlink_to("b.toml")
    (tmp_path / "b.toml").symlink_to("a.toml")
    with pytest.raises(OSError) as info:
        _save_config(tmp_path / "a.toml", 1)
    assert info.value.errno == errno.ELOOP
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.toml", "b.toml"]


# ---- 4. permissions ---------------------------------------------------------------------------
@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002], ids=oct)
@pytest.mark.parametrize("saver", SAVERS, ids=IDS)
def test_a_new_file_gets_the_umask_mode(
    tmp_path: Path, umask: Any, saver: Saver, mask: int
) -> None:
    name, save, _ = saver
    umask(mask)
    save(tmp_path / name, 1)
    assert _mode(tmp_path / name) == 0o666 & ~mask


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o664, 0o755, 0o400], ids=oct)
@pytest.mark.parametrize("saver", SAVERS, ids=IDS)
def test_a_replaced_file_keeps_its_mode(
    tmp_path: Path, umask: Any, saver: Saver, mode: int
) -> None:
    name, save, version_of = saver
    path = tmp_path / name
    umask(0o022)
    save(path, 1)
    path.chmod(mode)
    umask(0o077)  # the umask is for new files only
    save(path, 2)
    assert version_of(path) == 2 and _mode(path) == mode


def test_a_private_file_is_never_readable_while_it_is_written(tmp_path: Path, umask: Any) -> None:
    umask(0o022)
    path = tmp_path / "secret.bin"
    write_atomic(path, b"old")
    path.chmod(0o600)
    modes: list[int] = []

    def writer(f: BinaryIO) -> None:
        modes.append(stat.S_IMODE(os.fstat(f.fileno()).st_mode))
        f.write(b"new")

    write_atomic(path, writer)
    assert modes == [0o600] and _mode(path) == 0o600 and path.read_bytes() == b"new"


# ---- 5. a path that names a folder --------------------------------------------------------------
@pytest.mark.parametrize("existing", [True, False], ids=["existing", "new"])
@pytest.mark.parametrize("saver", SAVERS, ids=IDS)
def test_a_trailing_slash_is_refused_and_nothing_written(
    tmp_path: Path, saver: Saver, existing: bool
) -> None:
    name, save, version_of = saver
    path = tmp_path / name
    if existing:
        save(path, 1)
    owner = "save_checkpoint" if name.endswith(".pt") else "save_config"
    with pytest.raises(SpecError, match=rf"{owner}\.path: must name a file, got '.*{name}/'"):
        save(f"{path}/", 2)
    assert [p.name for p in tmp_path.iterdir()] == ([name] if existing else [])
    if existing:
        assert version_of(path) == 1


@pytest.mark.parametrize("bad", ["", "runs/.", "runs/..", "runs/"])
def test_paths_that_name_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError, match="save_checkpoint.path: must name a file"):
        _save_checkpoint(bad, 1)
    with pytest.raises(SpecError, match="write_atomic.target: must name a file"):
        write_atomic(bad, b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["runs"]
    assert list((tmp_path / "runs").iterdir()) == []


def test_a_target_that_is_a_folder_is_refused_before_writing(tmp_path: Path) -> None:
    (tmp_path / "ckpt.pt").mkdir()
    seen: list[str] = []
    with pytest.raises(IsADirectoryError):
        write_atomic(tmp_path / "ckpt.pt", lambda f: seen.append("written"))
    assert seen == [] and _leftovers(tmp_path) == []


def test_a_missing_folder_names_the_target(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "run.toml"
    with pytest.raises(FileNotFoundError) as info:
        _save_config(target, 1)
    assert info.value.filename == str(target)


def test_write_atomic_arguments(tmp_path: Path) -> None:
    write_atomic(str(tmp_path / "a.bin"), bytearray(b"ab"))
    assert (tmp_path / "a.bin").read_bytes() == b"ab"
    with pytest.raises(SpecTypeError, match="write_atomic.data: must be bytes or a function"):
        write_atomic(tmp_path / "b.bin", "text")  # type: ignore[arg-type]
    with pytest.raises(SpecTypeError, match="write_atomic.target: must be a str or a Path"):
        write_atomic(3, b"x")  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]
