"""Swaps two directory entries atomically, over and over, for a bounded time.

    python3 exchange-folders.py A B SECONDS

renameat2(RENAME_EXCHANGE) exchanges the names A and B in one step (a folder
and a symlink, say), as a process that can write inside a store could. It
prints how many exchanges it made and always stops with the names as they
were (an even count).
"""
import ctypes
import os
import sys
import time

AT_FDCWD = -100
RENAME_EXCHANGE = 2

libc = ctypes.CDLL(None, use_errno=True)
a, b, seconds = sys.argv[1].encode(), sys.argv[2].encode(), float(sys.argv[3])


def exchange():
    if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
        error = ctypes.get_errno()
        sys.exit(f"renameat2 failed: {os.strerror(error)}")


end = time.monotonic() + seconds
count = 0
while time.monotonic() < end or count % 2 == 1:
    exchange()
    count += 1
print(count)
