"""Worker threads that never hold up Ctrl-C or an error.

``with ThreadPoolExecutor(...)`` waits for every running task when its block ends, also
when the block ends with an exception: a task stalled in a network read then keeps
Ctrl-C (or the first failure) waiting until its timeout. :func:`worker_pool` shuts the
pool down without waiting when its block raises, and cancels what has not started; the
CLI then ends the process at once (:func:`repro.cli.run`).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

__all__ = ["worker_pool"]


@contextmanager
def worker_pool(workers: int, name: str) -> Iterator[ThreadPoolExecutor]:
    """A pool of ``workers`` threads named ``name-N``; waited for only when its block succeeds."""
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=name)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
