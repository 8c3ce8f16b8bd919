"""Column helpers for the generators: timestamps in microseconds, money, weighted picks, strings.

Everything is vectorised: numpy for numbers, Arrow for string concatenation.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

US_PER_DAY = 86_400_000_000


def weighted_choice(rng: np.random.Generator, n: int, weights) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return np.searchsorted(np.cumsum(w) / w.sum(), rng.random(n))


def add_us(ts: np.ndarray, us) -> np.ndarray:
    return ts + np.asarray(us, dtype=np.int64).astype("timedelta64[us]")


def money(x: np.ndarray) -> np.ndarray:
    return np.round(x, 2)


def letters(codes: np.ndarray, width: int) -> np.ndarray:
    """Fixed-width A-Z strings for non-negative integers (base 26)."""
    out = np.empty((len(codes), width), dtype=np.uint8)
    c = np.asarray(codes, dtype=np.int64).copy()
    for i in range(width - 1, -1, -1):
        out[:, i] = ord("A") + c % 26
        c //= 26
    return out.view(f"S{width}").ravel().astype(f"U{width}")


def join(*parts) -> pa.Array:
    """Element-wise string concatenation in Arrow (numpy's char functions loop in Python)."""
    arrays = [p if isinstance(p, str) else pa.array(p).cast(pa.string()) for p in parts]
    return pc.binary_join_element_wise(*arrays, "")


def hex_digits(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded lower-case hex strings of non-negative int64 values."""
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    out = np.empty((len(values), width), dtype=np.uint8)
    v = values.astype(np.uint64).copy()
    for i in range(width - 1, -1, -1):
        out[:, i] = digits[(v & np.uint64(15)).astype(np.int64)]
        v >>= np.uint64(4)
    return out.view(f"S{width}").ravel().astype(f"U{width}")
