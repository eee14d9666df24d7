"""SessionClock and TimeBudgetCallback on their own: the room kept before the deadline is made of measured times."""

import time

import pytest
from transformers import TrainerControl, TrainerState

from kaggle_t2sql.train.callbacks import SessionClock, SessionStepsCallback, TimeBudgetCallback


def clock(remaining_s: float, **kwargs) -> SessionClock:
    return SessionClock(deadline=time.monotonic() + remaining_s, **kwargs)


def test_reserve_is_one_step_one_save_the_upload_wrap_up_and_the_margin():
    c = clock(100, margin_s=7.0, initial_save_estimate_s=5.0, extra_reserve_s=11.0, wrap_up_s=2.0)
    assert c.reserve() == 0.0 + 5.0 + 11.0 + 2.0 + 7.0  # nothing measured yet: the save estimate, no step time
    c.step_durations += [1.0, 3.0, 2.0]
    c.save_durations += [4.0]
    assert c.reserve() == 3.0 + 4.0 + 11.0 + 2.0 + 7.0  # the slowest recent step, the measured save


def test_a_measured_save_replaces_the_estimate_whether_longer_or_shorter():
    c = clock(100, initial_save_estimate_s=5.0, wrap_up_s=0.0)
    c.save_durations.append(30.0)  # a slow disk: the estimate was too hopeful
    assert c.reserve() == 30.0
    c.save_durations[:] = [0.5]  # a fast one: the estimate was too pessimistic
    assert c.reserve() == 0.5
    c.save_durations[:] = [0.5, 40.0, 2.0]  # the slowest save so far counts
    assert c.reserve() == 40.0


def test_only_the_last_20_step_times_count():
    c = clock(100, initial_save_estimate_s=0.0, wrap_up_s=0.0)
    c.step_durations += [50.0] + [1.0] * 20  # a slow first step (warm-up) no longer counts
    assert c.reserve() == 1.0


def run_step_end(budget: TimeBudgetCallback, global_step: int = 3, max_steps: int = 10) -> TrainerControl:
    state, control = TrainerState(), TrainerControl()
    state.global_step, state.max_steps = global_step, max_steps
    budget.on_step_begin(None, state, control)
    budget.on_step_end(None, state, control)
    return control


@pytest.mark.parametrize("measured_save_s, stops", [(0.1, False), (40.0, True)])
def test_the_budget_stops_when_the_measured_save_no_longer_fits(measured_save_s, stops):
    """30 s left; the estimate (5 s) would fit, a measured 40 s save would not: save and stop now."""
    c = clock(30, initial_save_estimate_s=5.0, wrap_up_s=1.0)
    c.save_durations.append(measured_save_s)
    budget = TimeBudgetCallback(c)
    control = run_step_end(budget)
    assert (control.should_save, control.should_training_stop, budget.stopped) == (stops, stops, stops)
    assert len(c.step_durations) == 1  # and it measured the step


def test_the_budget_leaves_the_last_step_to_the_run():
    c = clock(-1)  # past the deadline, but the step just done was the run's last: it finishes normally
    control = run_step_end(TimeBudgetCallback(c), global_step=10, max_steps=10)
    assert not control.should_training_stop


def test_a_session_measures_every_save_it_makes(tmp_path):
    from test_trainer import small_config

    from kaggle_t2sql.train.trainer import ResumableTrainer

    trainer = ResumableTrainer(small_config("training.gradient_accumulation_steps=1", "training.max_steps=4"), tmp_path,
                               progress=False)
    trainer.run()
    saves = trainer.clock.save_durations
    assert len(saves) == 2 and all(s > 0 for s in saves)  # checkpoint-2 and checkpoint-4, each write + seal + publish


@pytest.mark.parametrize("steps, global_step, stops", [(0, 50, False), (3, 6, False), (3, 7, True), (3, 10, False)])
def test_the_step_budget_counts_this_sessions_steps_and_leaves_the_last_step_to_the_run(steps, global_step, stops):
    """Resumed at step 4 with budget.session_steps=3: save and stop at step 7; 0 is no step budget; the run's
    last step (10) ends it as finished, not as a budget stop."""
    cb = SessionStepsCallback(start_step=4, steps=steps)
    state, control = TrainerState(), TrainerControl()
    state.global_step, state.max_steps = global_step, 10
    cb.on_step_end(None, state, control)
    assert (control.should_save, control.should_training_stop, cb.stopped) == (stops, stops, stops)
