"""The trainer's own small rules, without a run."""

import jax
import numpy as np

from sdpo_jax.loop.trainer import sampling_keys


def draws(key, indices):
    return {tuple(np.asarray(jax.random.key_data(jax.random.fold_in(key, i)))) for i in indices}


def test_the_held_out_check_never_samples_with_a_training_steps_key():
    """Training step s draws with fold_in(training, s); held-out batch k with fold_in(held-out,
    k·batch_prompts). One key for both made held-out batch 1 at 2 prompts the draw of step 2."""
    training, heldout = sampling_keys(0)
    steps, batches = range(200), range(0, 256, 2)
    assert not draws(training, steps) & draws(heldout, batches)
    assert draws(jax.random.key(0), steps) & draws(jax.random.key(0), batches)  # the old way
    again = sampling_keys(0)  # the same seed gives the same keys: a run's checks are repeatable
    assert draws(again[1], batches) == draws(heldout, batches)
