"""One program log file as the log daemon writes it: rotation by rename, a full disk, symlinks.

Rotation happens in the same thread as the writes, before the write that
would pass ``max_bytes``, so a file never grows past its size and the disk
use of one file is at most ``max_bytes * (backups + 1)``. Nothing is copied
and nothing is lost: the bytes go either to the old file or to the new one.

Every name is opened relative to the log dir's fd with ``O_NOFOLLOW``;
rename and unlink act on the names themselves, never on what a symlink
points at, so a link planted in the log dir cannot redirect a write,
a truncate or a rename outside it. Stdlib only.
"""

from __future__ import annotations

import errno
import os
import stat
import time

FULL_DISK = (errno.ENOSPC, errno.EDQUOT)
RETRY_AFTER_FULL = 1.0  # seconds between write attempts while the disk is full
OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


# Plain classes with __slots__, not dataclasses: importing dataclasses (inspect, ast ...) would
# cost the daemon ~1.5 MiB of its ~11 MiB.
class Settings:
    FIELDS = ("max_bytes", "backups", "timestamps", "rate_burst", "rate_interval")
    __slots__ = FIELDS

    def __init__(self, max_bytes: int = 10 * 1024 * 1024, backups: int = 5, timestamps: bool = False,
                 rate_burst: int = 0, rate_interval: float = 30.0) -> None:
        self.max_bytes = int(max_bytes)
        self.backups = int(backups)
        self.timestamps = bool(timestamps)
        self.rate_burst = int(rate_burst)          # lines per interval; 0 = no limit
        self.rate_interval = float(rate_interval)

    def as_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.FIELDS}


class Counters:
    """What happened to a file's lines; the daemon reports these to procbot."""

    NUMBERS = ("bytes_written", "lines_written", "rotations",
               "dropped_lines", "dropped_bytes",     # lost to a full disk or a write error
               "suppressed_lines",                   # held back by the rate limit
               "backups_deleted",                    # removed to make room on a full disk
               "links_replaced")                     # symlinks / hard links found at the log's name, removed
    __slots__ = (*NUMBERS, "last_error")

    def __init__(self) -> None:
        for k in self.NUMBERS:
            setattr(self, k, 0)
        self.last_error = ""

    def add(self, other: Counters) -> None:
        for k in self.NUMBERS:
            setattr(self, k, getattr(self, k) + getattr(other, k))
        if other.last_error:
            self.last_error = other.last_error

    def as_dict(self) -> dict[str, object]:
        return {**{k: getattr(self, k) for k in self.NUMBERS}, "last_error": self.last_error}


class LogError(Exception):
    pass


class LogDir:
    """The log dir, opened once (and made if missing) when first needed; names resolve against it."""

    __slots__ = ("fd", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def open(self) -> int:
        if self.fd < 0:
            os.makedirs(self.path, mode=0o750, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return self.fd


class LogFile:
    __slots__ = (
        "_full_until",
        "_pending_marker",
        "_rate_count",
        "_rate_dropped",
        "_rate_window",
        "counters",
        "dir",
        "fd",
        "name",
        "settings",
        "size",
    )

    def __init__(self, log_dir: LogDir, name: str, settings: Settings) -> None:
        self.dir = log_dir
        self.name = name
        self.settings = settings
        self.counters = Counters()
        self.fd = -1
        self.size = 0
        self._full_until = 0.0     # monotonic; while the disk is full, drop until then
        self._pending_marker = b""
        self._rate_window = 0.0
        self._rate_count = 0
        self._rate_dropped = 0

    # -- writing ---------------------------------------------------------
    def emit(self, data: bytes, now: float, *, continues: bool = False) -> None:
        """Write ``data`` (whole lines, or a line piece when ``continues`` or forced out).

        ``continues``: the data goes on a line already begun, so it gets no
        timestamp of its own.
        """
        if not data:
            return
        lines = data.count(b"\n")
        if not self._rate_ok(lines, now):
            return
        if self.settings.timestamps:
            data = _stamp(data, now, continues)
        self._write_rotating(data, lines)

    def _rate_ok(self, lines: int, now: float) -> bool:
        s = self.settings
        if s.rate_burst <= 0:
            return True
        if now - self._rate_window >= s.rate_interval:
            if self._rate_dropped:
                note = f"[procbot-logd] {self._rate_dropped} lines suppressed by the rate limit " \
                       f"({s.rate_burst} per {s.rate_interval:g}s)\n"
                self._rate_dropped = 0
                self._write_rotating(_stamp(note.encode(), now, False) if s.timestamps else note.encode(), 1)
            self._rate_window, self._rate_count = now, 0
        if self._rate_count >= s.rate_burst:  # a chunk that starts within the burst is written whole
            self._rate_dropped += max(lines, 1)
            self.counters.suppressed_lines += max(lines, 1)
            return False
        self._rate_count += lines
        return True

    def _write_rotating(self, data: bytes, lines: int) -> None:
        view = memoryview(data)
        limit = self.settings.max_bytes
        while view:
            if time.monotonic() < self._full_until or (self.fd < 0 and not self._open()):
                self._drop(view)  # the disk is full, or the dir unwritable: retried once a second
                return
            room = limit - self.size
            if len(view) <= room:
                self._write(view)
                return
            cut = bytes(view[:room]).rfind(b"\n") + 1 if room > 0 else 0
            if cut == 0 and self.size == 0:
                cut = room  # one line longer than a whole file: split it
            if cut:
                self._write(view[:cut])
                view = view[cut:]
            if not self.rotate():  # never write past max_bytes: that is what bounds the disk
                self._drop(view)
                return

    def _write(self, view: memoryview) -> None:
        if time.monotonic() < self._full_until:
            self._drop(view)
            return
        if self._pending_marker:
            marker = memoryview(self._pending_marker)
            if self._write_all(marker) < len(marker):
                self._drop(view)
                return
            self._pending_marker = b""
        done = self._write_all(view)
        if done < len(view):
            self._drop(view[done:])
            self._full_until = time.monotonic() + RETRY_AFTER_FULL

    def _write_all(self, view: memoryview) -> int:
        """Write everything, freeing space on a full disk; returns the bytes written."""
        done = 0
        while done < len(view):
            try:
                n = os.write(self.fd, view[done:])
            except OSError as e:
                if e.errno in FULL_DISK and self._free_space():
                    continue
                self.counters.last_error = f"{self.name}: {os.strerror(e.errno or 0)}"
                if e.errno not in FULL_DISK:
                    self._close()  # reopen on the next write (EIO, a file gone away ...)
                break
            done += n
        self.size += done
        self.counters.bytes_written += done
        self.counters.lines_written += view[:done].tobytes().count(b"\n")
        return done

    def _drop(self, view: memoryview) -> None:
        if not view:
            return
        data = view.tobytes()
        lines = data.count(b"\n") or 1
        c = self.counters
        c.dropped_bytes += len(data)
        c.dropped_lines += lines
        self._pending_marker = (f"\n[procbot-logd] {c.dropped_lines} lines ({c.dropped_bytes} bytes) dropped so far: "
                                f"{c.last_error or 'log not writable'}\n").encode()

    def _free_space(self) -> bool:
        """Delete this log's oldest backup; False when none is left to delete."""
        for i in range(self.settings.backups + 20, 0, -1):  # +20: backups left from a larger setting
            name = f"{self.name}.{i}"
            try:
                os.unlink(name, dir_fd=self.dir_fd)  # a symlink is removed itself, never its target
            except FileNotFoundError:
                continue
            except OSError:
                return False
            self.counters.backups_deleted += 1
            return True
        return False

    # -- files -----------------------------------------------------------
    def _open(self) -> bool:
        try:
            self.fd = self._open_regular()
        except OSError as e:
            msg = f"{self.name}: {e.strerror or e}"
        except LogError as e:
            msg = str(e)
        else:
            self.size = os.fstat(self.fd).st_size
            return True
        self.counters.last_error = msg
        self._full_until = time.monotonic() + RETRY_AFTER_FULL
        return False

    @property
    def dir_fd(self) -> int:
        return self.dir.fd

    def _open_regular(self) -> int:
        self.dir.open()
        for _ in range(3):
            try:
                fd = os.open(self.name, OPEN_FLAGS, 0o640, dir_fd=self.dir_fd)
            except OSError as e:
                if e.errno != errno.ELOOP:
                    raise
                self._remove_link()  # a symlink at our name: remove the link, write a real file
                continue
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                raise LogError(f"{self.name} is not a regular file; not writing to it")
            if st.st_nlink > 1:  # a hard link to a file that is not ours alone
                os.close(fd)
                self._remove_link()
                continue
            return fd
        raise LogError(f"{self.name} keeps being replaced by a link; not writing to it")

    def _remove_link(self) -> None:
        os.unlink(self.name, dir_fd=self.dir_fd)
        self.counters.links_replaced += 1

    def rotate(self) -> bool:
        """file -> file.1 -> file.2 ...; the oldest falls off. Renames only: nothing is copied.

        False when the renames failed (a read-only or immutable log dir): the
        full file stays, and lines are dropped (and counted) until a retry works.
        """
        self._close()
        n = self.settings.backups
        try:
            if n == 0:
                os.unlink(self.name, dir_fd=self.dir_fd)
            else:
                for i in range(n - 1, 0, -1):
                    try:
                        os.rename(f"{self.name}.{i}", f"{self.name}.{i + 1}",
                                  src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
                    except FileNotFoundError:
                        pass
                os.rename(self.name, f"{self.name}.1", src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        except FileNotFoundError:
            pass
        except OSError as e:
            self.counters.last_error = f"rotating {self.name}: {e.strerror or e}"
            self._full_until = time.monotonic() + RETRY_AFTER_FULL
            return False
        self.counters.rotations += 1
        self.size = 0
        return True

    def clear(self) -> int | None:
        """Empty the log (``clear``) the way supervisord does: remove the name, open a new file there.

        Called in the daemon's one thread, between two writes, so no line is cut: what was written
        before is gone whole, what comes after lands whole in the new file. A new file (a new inode)
        rather than a truncation, so whoever follows the name (``procbot logs -f``, ``tail -F``, a log
        shipper) sees a new file, as at a rotation, instead of a shrink it may miss. The unlink acts on
        the name itself (a link planted there is removed, never followed). Rotated backups stay, as
        with supervisorctl. Returns the bytes the removed file held; None when there was no file.
        """
        self._close()
        self.dir.open()
        try:
            st = os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None  # nothing written yet: and no empty file made for a stream that never wrote
        os.unlink(self.name, dir_fd=self.dir_fd)
        self.size = 0
        self._full_until = 0.0
        try:
            self.fd = self._open_regular()  # at once: `logs` and followers find an empty file, not none
        except (OSError, LogError):
            self.fd = -1  # the next write tries again, and counts what it cannot write
        return st.st_size if stat.S_ISREG(st.st_mode) else 0

    def check(self) -> None:
        """Reopen when the file was removed or replaced under us (its data would be invisible)."""
        if self.fd < 0:
            return
        try:
            here = os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
            mine = os.fstat(self.fd)
        except OSError:
            self._close()
            return
        if (here.st_ino, here.st_dev) != (mine.st_ino, mine.st_dev):
            self._close()
        else:
            self.size = mine.st_size  # someone truncated it: O_APPEND writes land at the real end

    def _close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def close(self) -> None:
        self._close()


def _stamp(data: bytes, now: float, continues: bool) -> bytes:
    t = time.gmtime(now)
    stamp = (time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(now % 1 * 1000):03d}Z ").encode()
    head = b"" if continues else stamp
    if data.endswith(b"\n"):
        return head + data[:-1].replace(b"\n", b"\n" + stamp) + b"\n"
    return head + data.replace(b"\n", b"\n" + stamp)
