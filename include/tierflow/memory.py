"""Keeps a long batch run's memory flat: whatever a finished batch freed goes back to the OS.

glibc gives each thread that allocates its own heap arena and keeps freed pages mapped in it;
a run with reader, gate, upload and delete threads would otherwise grow with the batches it has
seen. Both calls are no-ops where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_ARENA_MAX = -8
_libc = None


def _glibc():
    global _libc
    if _libc is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc = lib if hasattr(lib, "malloc_trim") and hasattr(lib, "mallopt") else False
        except OSError:
            _libc = False
    return _libc


def bound_arenas(arenas: int = 2) -> None:
    """Share at most ``arenas`` heap arenas between threads (call before starting them)."""
    libc = _glibc()
    if libc:
        libc.mallopt(_M_ARENA_MAX, arenas)


def release() -> None:
    """Return freed heap memory to the OS (between batches)."""
    libc = _glibc()
    if libc:
        libc.malloc_trim(0)
