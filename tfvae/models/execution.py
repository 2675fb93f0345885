"""How many training steps one compiled call runs, for the CLI and the library.

A Keras train function runs `steps_per_execution` steps per call; between
calls Python runs the loop and the callbacks. Small models spend most of a
step there, so several steps per call train them several times faster
(measured in `benchmarks/throughput.py`, docs/performance.md), and every
step's values stay readable afterwards (`BaseVAE.step_log`).
"""

import tensorflow as tf

# Train steps per call for --steps_per_execution=0 (auto) and for a model
# compiled without `steps_per_execution`.
AUTO_STEPS_PER_EXECUTION = 50


def single_step_only(strategy):
  """Whether `strategy` must run one step per call.

  Several replicas of a (multi-worker) MirroredStrategy: Keras 3's multi-step
  loop fails there ("You must feed a value for placeholder tensor",
  keras-team/keras issue 19246).
  """
  return (strategy is not None and strategy.num_replicas_in_sync > 1 and
          not isinstance(strategy, tf.distribute.TPUStrategy))


def default_steps_per_execution(strategy=None):
  """The automatic steps per call under `strategy` (None: the current one)."""
  strategy = strategy or tf.distribute.get_strategy()
  return 1 if single_step_only(strategy) else AUTO_STEPS_PER_EXECUTION
