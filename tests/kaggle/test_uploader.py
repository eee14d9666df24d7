"""Background pushes: retried with backoff through real failures (the emulator rejecting uploads, which
the kaggle client turns into a silently incomplete version), reported when they never land, spaced in
time, and pruned so a week of sessions stays inside Kaggle's dataset storage."""

import time

from test_kaggle_sync import checkpointed_run as run_dir  # noqa: F401 - fixture

from kaggle_t2sql.kaggle.auth import kaggle_api
from kaggle_t2sql.kaggle.stores import LocalStore
from kaggle_t2sql.kaggle.kaggle_store import KaggleStore
from kaggle_t2sql.kaggle.uploader import BackgroundUploader

REF = "tester/t2sql-ckpt"


def test_a_failed_push_is_retried_with_backoff_until_it_lands(emu, run_dir):
    store = KaggleStore(REF, api=kaggle_api(), poll_s=0.01)
    uploader = BackgroundUploader(store, run_dir, retry_delays_s=(0.3, 0.3))
    emu.reject_next_upload = 400  # one file of the first try is dropped: the version is incomplete
    started = time.monotonic()
    uploader.submit(2)
    assert uploader.close(60)
    assert [step for step, _ in uploader.pushed] == [2] and uploader.not_pushed == []
    assert len(uploader.errors) == 1 and "an upload was dropped" in uploader.errors[0]
    assert time.monotonic() - started >= 0.3  # it waited before the retry
    assert store.latest("tiny-demo")["global_step"] == 2


def test_a_push_that_never_lands_is_reported_and_a_newer_save_supersedes_retries(emu, run_dir):
    store = KaggleStore(REF, api=kaggle_api(), poll_s=0.01)
    emu.reject_uploads_with = 400
    uploader = BackgroundUploader(store, run_dir, retry_delays_s=(0.2, 0.2))
    uploader.submit(4, final=True)
    assert uploader.close(60)
    assert uploader.not_pushed == [4] and len(uploader.errors) == 3  # 1 try + 2 retries
    assert emu.dataset_versions(REF) == [] or all(v["files"] for v in emu.dataset_versions(REF))


def test_pushes_are_spaced_but_the_final_one_is_not(tmp_path, run_dir):
    uploader = BackgroundUploader(LocalStore(tmp_path / "store"), run_dir, min_interval_s=1.0)
    t0 = time.monotonic()
    uploader.submit(2)
    assert uploader.wait(30)
    uploader.submit(4)  # within the interval: waits for it
    assert uploader.wait(30)
    spaced = time.monotonic() - t0
    t1 = time.monotonic()
    uploader.submit(6, final=True)  # the session's last push never waits
    assert uploader.close(30)
    assert spaced >= 1.0 and time.monotonic() - t1 < 1.0
    assert [s for s, _ in uploader.pushed] == [2, 4, 6]


def test_a_push_onto_max_versions_prunes_only_behind_a_verified_version(tmp_path, run_dir):
    store = LocalStore(tmp_path / "store")
    uploader = BackgroundUploader(store, run_dir, max_versions=2)
    for step in (2, 4, 6):
        uploader.submit(step)
        assert uploader.wait(30)
    assert uploader.close(30)
    assert [v.id for v in store.versions()] == ["v0002", "v0003"] and store.latest("tiny-demo")["global_step"] == 6


def test_a_session_whose_pushes_all_fail_says_what_was_not_pushed(emu, tmp_path):
    from test_sync import session
    from test_trainer import small_config

    emu.reject_uploads_with = 400  # every upload refused: each version comes out incomplete
    cfg = small_config(f"store.uri=kaggle:{REF}", f"store.input_root={tmp_path / 'none'}", "store.push_retry_seconds=[0.1]",
                       "training.max_steps=4")
    result = session(cfg, tmp_path / "run")
    assert result.status == "finished" and result.not_pushed == [2, 4], result
    assert "NOT PUSHED: step(s) 2, 4" in result.summary() and "dataset_create_new failed" in result.summary()
