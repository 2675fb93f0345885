"""KL schedules for Keras models: the callback, and the public `tfvae.schedules`.

A schedule is a pure function `step -> weight` (`tfvae.balancing.schedules`,
with its formulas and papers). `KLScheduleCallback` applies one to any Keras
model with a `kl_weight` variable: it writes the weight before every training
batch, reading the step from `optimizer.iterations`, so a resumed run
continues the schedule exactly where the checkpoint left it. This module also
re-exports the schedules' public names, so `tfvae.schedules` (this module)
offers the functions and the callback together.
"""

from typing import Any, Callable, Optional

import keras
import tensorflow as tf

from tfvae.balancing.schedules import CYCLE_SHAPES
from tfvae.balancing.schedules import SCHEDULE_NAMES
from tfvae.balancing.schedules import capacity
from tfvae.balancing.schedules import constant
from tfvae.balancing.schedules import cyclical
from tfvae.balancing.schedules import linear
from tfvae.balancing.schedules import make_schedule
from tfvae.balancing.schedules import schedule_function
from tfvae.balancing.schedules import sigmoid
from tfvae.errors import ConfigError


def _model_kl_weight(model):
  if not hasattr(model, "kl_weight"):
    raise ConfigError(
        f"{type(model).__name__} has no kl_weight variable to schedule.")
  return model.kl_weight


class KLScheduleCallback(keras.callbacks.Callback):
  """Sets the model's KL weight from the schedule before every train batch.

  The step is `model.optimizer.iterations` (optimiser updates done so far), so
  the first batch sees step 0 and a run restored from a checkpoint continues
  the schedule. With `steps_per_execution > 1` Keras calls the hook once per
  execution, so the weight is updated every `steps_per_execution` steps.
  """

  def __init__(self,
               schedule_fn: Callable[[Any], Any],
               variable_getter: Optional[Callable[[Any], Any]] = None):
    """Initialises the callback.

    Args:
      schedule_fn: `step -> weight`, e.g. from `make_schedule`.
      variable_getter: `model -> variable` to assign (a `tf.Variable` or
        `keras.Variable`); defaults to `model.kl_weight`.
    """
    super().__init__()
    self.schedule_fn = schedule_fn
    self.variable_getter = variable_getter or _model_kl_weight

  def on_train_batch_begin(self, batch, logs=None):
    optimizer = getattr(self.model, "optimizer", None)
    if optimizer is None:
      raise ConfigError("KLScheduleCallback needs a compiled model with an "
                        "optimizer.")
    variable = self.variable_getter(self.model)
    weight = self.schedule_fn(tf.convert_to_tensor(optimizer.iterations))
    variable.assign(tf.cast(weight, variable.dtype))


__all__ = ["CYCLE_SHAPES", "SCHEDULE_NAMES", "KLScheduleCallback", "capacity",
           "constant", "cyclical", "linear", "make_schedule",
           "schedule_function", "sigmoid"]
