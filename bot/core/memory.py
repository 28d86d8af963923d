"""Give memory back to the system after a large mail, so one big post's peak does not stack on the last.

glibc's malloc raises its mmap threshold after a large buffer is freed, so later
buffers of that size come from the heap and stay with the process when freed; and
memory freed in a thread's arena is kept for reuse. A bot that relays a 14 MB post
now and then would grow by that much each time. So `kkrbot run` fixes the mmap
threshold (large buffers are mapped and unmapped), keeps to two malloc arenas, and
trims after large work.
Elsewhere than glibc these are no-ops.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc

M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8  # glibc's mallopt parameters
ARENAS = 2  # glibc gives each thread an arena of its own; a few shared ones fragment less
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value, kept fixed
LARGE_BYTES = 1024 * 1024  # work on a mail this large is followed by a trim


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _libc()


def keep_large_buffers_mapped() -> None:
    """Called once at start: large buffers are always mapped, so freeing one returns it at once;
    and the threads share a few arenas, where freed memory is found again."""
    if _LIBC is not None:
        _LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        _LIBC.mallopt(M_ARENA_MAX, ARENAS)


def give_back() -> None:
    """Return freed memory in every arena to the system (after handling a large mail). A collection
    first: a session's buffers may sit in a reference cycle until the collector runs."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
