"""One worker thread for the distiller's bookkeeping, so a request never waits for it.

Capturing masks personal data (the PII model), comparing may promote or demote, and every
``maintain_every`` captures discovery and training run: milliseconds to seconds of work that
belongs after the response. Jobs run in order on one thread (the capture store and the task
counters see one writer). The queue is bounded: when it is full a job is dropped and counted
(``dropped``) rather than held in memory without limit or pushed back onto the request.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger("slmkit.distill")

Job = Callable[[], object]


class Background:
    def __init__(self, limit: int) -> None:
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=limit)
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self.dropped = 0
        self.failed = 0

    def submit(self, job: Job) -> bool:
        """Queue ``job``; False (and counted) when the queue is full."""
        self._ensure_thread()
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def flush(self) -> None:
        """Wait until every queued job has run (tests, shutdown, the bench)."""
        if self._thread is not None:
            self._jobs.join()

    def close(self) -> None:
        """Run what is queued, then stop the thread."""
        if self._thread is None:
            return
        self._jobs.put(None)
        self._thread.join()
        self._thread = None

    def _ensure_thread(self) -> None:
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="slmkit-distill", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                job()
            except Exception:  # noqa: BLE001 - bookkeeping must never stop: the next request's capture still counts
                self.failed += 1
                log.exception("distill: background job failed")
            finally:
                self._jobs.task_done()
