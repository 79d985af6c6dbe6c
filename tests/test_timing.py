"""Steady-state step statistics and the per-step record kept by the Keras callback."""

import pytest

from finetune.step_recorder import StepRecorder, steady_state


def test_warmup_steps_are_left_out():
    times = [5.0, 3.0] + [0.1, 0.2, 0.3, 0.4, 0.5]
    stats = steady_state(times, skip=2)
    assert stats.steps_kept == 5 and stats.steps_skipped == 2 and stats.steps_total == 7
    assert stats.median_ms == pytest.approx(300.0)
    assert stats.p25_ms == pytest.approx(200.0) and stats.p75_ms == pytest.approx(400.0)
    assert stats.iqr_ms == pytest.approx(200.0)


def test_at_least_one_step_is_kept():
    stats = steady_state([1.0, 2.0], skip=10)
    assert stats.steps_kept == 1 and stats.median_ms == pytest.approx(2000.0)


def test_per_step_loss_is_recovered_from_running_means():
    timer = StepRecorder()  # the callback methods every engine's step timer has
    step_losses = [[0.9, 0.7, 0.5], [0.4, 0.2]]
    for epoch, losses in enumerate(step_losses):
        timer.on_epoch_begin(epoch)
        for batch, _ in enumerate(losses):
            timer.on_train_batch_begin(batch)
            running_mean = sum(losses[: batch + 1]) / (batch + 1)  # what Keras reports
            timer.on_train_batch_end(batch, {"loss": running_mean})
        timer.on_epoch_end(epoch, {"loss": sum(losses) / len(losses)})
    assert timer.step_losses == pytest.approx([0.9, 0.7, 0.5, 0.4, 0.2])
    assert timer.epoch_losses == pytest.approx([0.7, 0.3])
    assert len(timer.step_times_s) == 5 and all(t >= 0 for t in timer.step_times_s)
