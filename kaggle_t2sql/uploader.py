"""Push checkpoints in the background without stalling training.

At most one upload is in flight; a newer save replaces a queued one (only the latest
checkpoint matters); the session's final push is waited for, with a bound. Upload
durations are measured so the time budget can reserve room for the last one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import warnings
from pathlib import Path

from .bundle import make_bundle, seal_bundle
from .checkpoints import KaggleCheckpointManager
from .stores import CheckpointStore


class BackgroundUploader:
    def __init__(self, store: CheckpointStore, run_dir: str | Path, on_measure=None):
        self.store = store
        self.manager = KaggleCheckpointManager(run_dir)
        self.on_measure = on_measure  # called with the longest upload so far, in seconds
        self.durations: list[float] = []
        self.pushed: list[tuple[int, int]] = []  # (global_step, store version)
        self.errors: list[str] = []
        self.bytes_pushed = 0
        self._cv = threading.Condition()
        self._queued: tuple[int, Path] | None = None
        self._busy = False
        self._closed = False
        self._spool = Path(tempfile.mkdtemp(prefix="t2sql-push-"))
        self._thread = threading.Thread(target=self._loop, name="checkpoint-uploader", daemon=True)
        self._thread.start()

    def submit(self, step: int) -> None:
        """Snapshot checkpoint-<step> now (hard links: instant) and queue it, replacing a queued older one."""
        checkpoint = self.manager.checkpoints_dir / f"checkpoint-{step}"
        if not checkpoint.is_dir():
            return
        bundle = self._spool / f"step-{step}-{time.monotonic_ns()}"
        make_bundle(self.manager.run_dir, bundle, checkpoint, seal=False)
        with self._cv:
            if self._queued is not None:
                shutil.rmtree(self._queued[1], ignore_errors=True)
            self._queued = (step, bundle)
            self._cv.notify_all()

    def _loop(self) -> None:
        try:  # background work yields the CPU to the training threads (Linux: per-thread niceness)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (AttributeError, OSError):
            pass
        while True:
            with self._cv:
                while self._queued is None and not self._closed:
                    self._cv.wait()
                if self._queued is None:
                    return
                step, bundle = self._queued
                self._queued, self._busy = None, True
            start = time.monotonic()
            try:
                seal_bundle(bundle)  # hashing happens here, off the training thread
                size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
                version = self.store.push(bundle, note=f"step {step}")
                self.pushed.append((step, version))
                self.bytes_pushed += size
                self.durations.append(time.monotonic() - start)
                if self.on_measure:
                    self.on_measure(max(self.durations))
            except Exception as exc:  # noqa: BLE001 - a failed push must not kill training; the next one retries
                self.errors.append(f"step {step}: {exc}")
                warnings.warn(f"checkpoint push of step {step} to {self.store.uri} failed: {exc}", stacklevel=1)
            finally:
                shutil.rmtree(bundle, ignore_errors=True)
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def wait(self, timeout_s: float) -> bool:
        """Block until nothing is queued or in flight (True), or the timeout passes (False)."""
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while self._queued is not None or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def close(self, timeout_s: float) -> bool:
        """Final push: wait (bounded), then stop the thread. Returns whether everything was pushed."""
        done = self.wait(timeout_s)
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        if done:
            self._thread.join(timeout=5)
            shutil.rmtree(self._spool, ignore_errors=True)
        return done
