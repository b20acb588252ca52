"""The spill file of a capture's store while it postpones its work (instrument/store_yield.py):
postponed records appended to a temporary file in the store's directory that never has a name
(``O_TMPFILE``; an unlinked ``mkstemp`` file where the file system lacks it), so they sit in the
page cache instead of the process's RSS, and are gone when the file is closed or the process
dies. Bounded (``default_cap``); a write the cap, a full disk or an error refuses leaves the
records with the caller (in memory: the pipeline's bound then holds the acks)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

SPILL_CAP_BYTES = 1024 * 1024 * 1024
"""The spill file holds at most this much (and at most ``SPILL_FREE_SHARE`` of the free space)."""
SPILL_FREE_SHARE = 0.25


def default_cap(directory: Path) -> int:
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return 0
    return int(min(SPILL_CAP_BYTES, free * SPILL_FREE_SHARE))


class SpillRef:
    """A postponed job's records in the spill file: read back by the thread that prepares it."""

    __slots__ = ("file", "offset", "size")

    def __init__(self, file: "SpillFile", offset: int, size: int) -> None:
        self.file, self.offset, self.size = file, offset, size

    def __len__(self) -> int:
        return self.size

    def load(self) -> bytearray:
        return self.file.read(self.offset, self.size)


class SpillFile:
    """Records appended to an unlinked temporary file in ``directory`` (``O_TMPFILE``: it never
    has a name), up to ``cap`` bytes. Written from the event loop, read by the store threads
    (``pread``: no shared file position). Emptied (truncated) whenever nothing in it is
    outstanding, so a capture's spills reuse the same pages."""

    def __init__(self, directory: Path, cap: int) -> None:
        self.directory = directory
        self.cap = cap
        self.refused = 0
        """Jobs it could not take (the cap reached, the disk full or refusing): they stayed in memory."""
        self.peak = 0
        """The file's largest size, bytes."""
        self.error: OSError | None = None
        self._fd: int | None = None
        self._end = 0
        self._outstanding = 0
        self._closed = False

    def _open(self) -> int:
        flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0)
        if hasattr(os, "O_TMPFILE"):
            try:
                return os.open(self.directory, flags | os.O_TMPFILE, 0o600)
            except OSError:  # a file system without O_TMPFILE
                pass
        fd, name = tempfile.mkstemp(prefix=".es-spill-", dir=self.directory)
        os.unlink(name)
        return fd

    def put(self, data: bytes) -> SpillRef | None:
        """Append ``data``; None if it does not fit (the cap, a full or failing disk)."""
        n = len(data)
        if self._closed or self.error is not None or self._end + n > self.cap:
            self.refused += 1
            return None
        try:
            if self._fd is None:
                self._fd = self._open()
            view, at = memoryview(data), self._end
            while view:
                k = os.pwrite(self._fd, view, at)
                view, at = view[k:], at + k
        except OSError as exc:  # ENOSPC, EIO, a read-only file system: no more spilling
            self.error = exc
            self.refused += 1
            return None
        ref = SpillRef(self, self._end, n)
        self._end += n
        self._outstanding += n
        self.peak = max(self.peak, self._end)
        return ref

    def read(self, offset: int, size: int) -> bytearray:
        fd = self._fd
        if fd is None or self._closed:
            raise OSError("the spill file is closed")
        out = bytearray(size)
        view, at = memoryview(out), offset
        while view:
            k = os.preadv(fd, [view], at)
            if k <= 0:
                raise OSError(f"the spill file ended at {at} of {offset + size}")
            view, at = view[k:], at + k
        return out

    def release(self, ref: SpillRef) -> None:
        """``ref``'s job is done (stored or refused; read already): once nothing is outstanding,
        the file is emptied and the next spill starts at its beginning."""
        self._outstanding -= ref.size
        if self._outstanding <= 0 and self._fd is not None and not self._closed:
            self._outstanding = 0
            self._end = 0
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass

    @property
    def open(self) -> bool:
        return self._fd is not None and not self._closed

    def close(self) -> None:
        """The file and its pages are gone (it has no name). Idempotent."""
        self._closed = True
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
