"""Every training step's logged scalars, readable after a multi-step call.

A Keras train function runs `steps_per_execution` steps per call and the
callbacks run between calls, so a callback sees one call's logs. To keep
every step, the model writes step t's scalars into row (t - 1) mod R of a
table of R >= steps_per_execution rows, and a callback reads the rows whose
step is past the last one it saw: one host read per call, exact at any
steps per call (`tfvae.callbacks.BatchScalars`, `NonFiniteGuard`).

The table is bookkeeping, not model state: plain `tf.Variable`s held by a
plain Python object, which Keras and `tf.train.Checkpoint` do not track, so
`model.weights`, checkpoints and `.keras` files hold the model alone. Under
a distribution strategy the variables are created in its scope and take the
first replica's writes (every replica logs the same global-batch values).
"""

import numpy as np
import tensorflow as tf


class StepLog:
  """A table of the last `rows` training steps' scalars.

  Args:
    scalar_names: the logged scalars, one column each, in this order.
    rows: how many steps the table keeps (at least the steps per call).
    strategy: the model's distribution strategy; the variables are made in
      its scope.
  """

  def __init__(self, scalar_names, rows, strategy):
    self.scalar_names = tuple(scalar_names)
    rows = max(1, int(rows))
    first = tf.VariableAggregation.ONLY_FIRST_REPLICA
    with strategy.scope():
      self.step = tf.Variable(tf.zeros([rows], tf.int64), trainable=False,
                              name="step_log_step", aggregation=first)
      self.values = tf.Variable(
          tf.zeros([rows, len(self.scalar_names)], tf.float32),
          trainable=False, name="step_log_values", aggregation=first)

  @property
  def rows(self):
    return int(self.step.shape[0])

  def __getitem__(self, key):
    """`log["step"]` / `log["values"]`: the two variables."""
    if key not in ("step", "values"):
      raise KeyError(key)
    return getattr(self, key)

  def variables(self):
    return [self.step, self.values]

  def write(self, step, scalars):
    """Writes the scalars (a dict over `scalar_names`) of training step
    `step` (counted from 1) into its row; inside the step function."""
    step = tf.cast(step, tf.int64)
    row = tf.reshape(tf.math.floormod(step - 1, self.rows), [1, 1])
    values = tf.stack([tf.cast(scalars[name], tf.float32)
                       for name in self.scalar_names])
    self.step.assign(tf.tensor_scatter_nd_update(self.step, row,
                                                 tf.reshape(step, [1])))
    self.values.assign(tf.tensor_scatter_nd_update(self.values, row,
                                                   values[None]))

  def read(self, after_step):
    """(steps, {name: values}) of the logged steps > after_step, in step
    order (one host read)."""
    steps = np.asarray(self.step.numpy())
    values = np.asarray(self.values.numpy())
    keep = np.flatnonzero(steps > after_step)
    keep = keep[np.argsort(steps[keep])]
    return steps[keep], {name: values[keep, j]
                         for j, name in enumerate(self.scalar_names)}


def empty(scalar_names):
  """What `StepLog.read` returns for a model that never compiled."""
  return np.zeros((0,), np.int64), {name: np.zeros((0,))
                                    for name in scalar_names}
