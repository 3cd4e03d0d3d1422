"""Keep freed chunk buffers out of the resident set: glibc serves large allocations with mmap only.

glibc raises its mmap threshold each time a large mmapped block is freed (up to 32 MiB), after which our
multi-MiB chunk buffers come from the heap and fragmentation keeps freed chunks resident: merging me5-small
peaked anywhere between 450 and 650 MiB instead of ~320 MiB. A fixed threshold (``mallopt(M_MMAP_THRESHOLD)``)
returns every chunk to the kernel when it is freed. No-op off glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

_M_MMAP_THRESHOLD = -3


@functools.cache
def release_large_buffers(threshold: int = 1 << 20) -> bool:
    """Serve allocations of ``threshold`` bytes and more with mmap (once per process); False if unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold))
    except (OSError, AttributeError):
        return False
