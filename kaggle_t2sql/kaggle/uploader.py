"""Push checkpoints in the background without stalling training.

At most one upload is in flight; a newer save replaces a queued one (only the latest
checkpoint matters). A failed push is retried with backoff until it succeeds, a newer
save supersedes it, or the tries run out; what never reached the store is reported.
Pushes are spaced at least `min_interval_s` apart, except the session's final push, which
is always made and waited for, with a bound. Each push goes through `CheckpointStore.commit`:
merged per run with what other sessions pushed meanwhile, verified, and pruned to
`max_versions` only behind a newer verified version (every version is a full snapshot: a
version per save would outgrow Kaggle's dataset storage, see docs/kaggle.md, "Dataset growth"). Upload
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

from ..checkpoints import KaggleCheckpointManager
from .bundle import run_name_of, seal_version, stage_version
from .stores import CheckpointStore

RETRY_DELAYS_S = (5.0, 20.0, 60.0)  # after the 1st, 2nd and 3rd failure of the same push


class BackgroundUploader:
    def __init__(self, store: CheckpointStore, run_dir: str | Path, on_measure=None, carry: str | Path | None = None,
                 min_interval_s: float = 0.0, max_versions: int = 0, retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S):
        self.store = store
        self.manager = KaggleCheckpointManager(run_dir)
        self.carry = carry
        self.on_measure = on_measure  # called with the longest upload so far, in seconds
        self.min_interval_s = min_interval_s
        self.max_versions = max_versions
        self.retry_delays_s = retry_delays_s
        self.durations: list[float] = []
        self.run_name = run_name_of(run_dir)
        self.pushed: list[tuple[int, str]] = []  # (global_step, store version id)
        self.errors: list[str] = []
        self._failed: set[int] = set()
        self.bytes_pushed = 0
        self._cv = threading.Condition()
        self._queued: tuple[int, Path, bool] | None = None  # (step, staged version, final)
        self._busy = False
        self._closed = False
        self._last_start = float("-inf")
        self._spool = Path(tempfile.mkdtemp(prefix="t2sql-push-"))
        self._thread = threading.Thread(target=self._loop, name="checkpoint-uploader", daemon=True)
        self._thread.start()

    def submit(self, step: int, final: bool = False) -> None:
        """Snapshot checkpoint-<step> now (hard links: instant) and queue it, replacing a queued older one."""
        checkpoint = self.manager.checkpoints_dir / f"checkpoint-{step}"
        if not checkpoint.is_dir():
            return
        root = self._spool / f"step-{step}-{time.monotonic_ns()}"
        stage_version(root, self.manager.run_dir, self.carry, checkpoint)
        with self._cv:
            if self._queued is not None:
                shutil.rmtree(self._queued[1], ignore_errors=True)
            self._queued = (step, root, final)
            self._cv.notify_all()

    @property
    def not_pushed(self) -> list[int]:
        """Steps whose push failed for good and that no later successful push covers."""
        return sorted(s for s in self._failed if s > self.last_pushed_step)

    @property
    def last_pushed_step(self) -> int:
        return max((s for s, _ in self.pushed), default=-1)

    def _take(self) -> tuple[int, Path, bool] | None:
        """Wait for a queued push whose turn has come (spacing), or None when closed and drained."""
        with self._cv:
            while True:
                if self._queued is not None:
                    wait = self._last_start + self.min_interval_s - time.monotonic()
                    if self._queued[2] or self._closed or wait <= 0:
                        item, self._queued, self._busy = self._queued, None, True
                        return item
                    self._cv.wait(wait)
                elif self._closed:
                    return None
                else:
                    self._cv.wait()

    def _loop(self) -> None:
        try:  # background work yields the CPU to the training threads (Linux: per-thread niceness)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (AttributeError, OSError):
            pass
        while (item := self._take()) is not None:
            step, root, _final = item
            self._last_start = time.monotonic()
            try:
                seal_version(root)  # hashing happens here, off the training thread
                size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
                for attempt in range(len(self.retry_delays_s) + 1):
                    start = time.monotonic()
                    try:
                        version = self.store.commit(root, note=f"step {step}", run_name=self.run_name,
                                                    max_versions=self.max_versions, carry=self.carry).id
                    except Exception as exc:  # noqa: BLE001 - a failed push must not kill training
                        self.errors.append(f"step {step}, try {attempt + 1}: {exc}")
                        warnings.warn(f"checkpoint push of step {step} to {self.store.uri} failed: {exc}", stacklevel=1)
                        if attempt == len(self.retry_delays_s) or self._superseded(self.retry_delays_s[attempt]):
                            self._failed.add(step)
                            break
                        continue
                    self.pushed.append((step, version))
                    self.bytes_pushed += size
                    self.durations.append(time.monotonic() - start)
                    if self.on_measure:
                        self.on_measure(max(self.durations))
                    break
            finally:
                shutil.rmtree(root, ignore_errors=True)
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def _superseded(self, delay_s: float) -> bool:
        """Back off before a retry; True when a newer save arrived meanwhile (push that one instead)."""
        with self._cv:
            self._cv.wait_for(lambda: self._queued is not None or self._closed, delay_s)
            return self._queued is not None

    def wait(self, timeout_s: float) -> bool:
        """Block until nothing is queued or in flight (True), or the timeout passes (False)."""
        with self._cv:
            return self._cv.wait_for(lambda: self._queued is None and not self._busy, timeout_s)

    def close(self, timeout_s: float) -> bool:
        """Final push: wait (bounded), then stop the thread. Returns whether everything queued was handled."""
        with self._cv:
            self._closed = True  # queued pushes go now, without waiting for their spacing
            self._cv.notify_all()
        done = self.wait(timeout_s)
        if done:
            self._thread.join(timeout=5)
            shutil.rmtree(self._spool, ignore_errors=True)
        return done
