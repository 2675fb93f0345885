"""Checkpoints: model, optimizer (with the global step), and every piece of state.

The model's non-trainable variables hold the KL weight and all controller state
(GECO's multiplier and moving average, ControlVAE's integrator), so one
`tf.train.Checkpoint(model=..., optimizer=...)` saves and restores all of it,
plus `last_batch`: the logged values of the last training batch (the KL
weight, beta, sigma a finished run reports), which Keras does not track as
checkpoint dependencies of the model (they sit in a dict). Checkpoints written
before `last_batch` was saved still restore (without those values).
The data pipeline position is the global step itself: the training pipeline is
a deterministic function of the seed, and a resumed run skips the batches it
already consumed. Posterior noise during training is a pure function of
(seed, step), so a run resumed from a checkpoint continues bit-for-bit where
the arithmetic is deterministic.

TensorFlow writes checkpoint data to temporary files and updates the
`checkpoint` index atomically, so a process killed during a save leaves the
previous checkpoint as the latest one.
"""

import glob
import logging
import os

import tensorflow as tf

from tfvae.errors import TfvaeError


class CheckpointError(TfvaeError):
  """A checkpoint that cannot be restored into this model."""


class _DropUnrestoredValueWarnings(logging.Filter):
  """Drops TF's warnings about checkpoint values a failed restore left behind.

  They come at interpreter exit, one line per variable, after the one-line
  CheckpointError has said what is wrong.
  """

  PREFIXES = ("Detecting that an object or model or tf.train.Checkpoint is "
              "being deleted with unrestored values",
              "Value in checkpoint could not be found in the restored object")

  def filter(self, record):
    return not str(record.getMessage()).startswith(self.PREFIXES)


def _does_not_fit(path, error):
  logger = logging.getLogger("tensorflow")
  if not any(isinstance(f, _DropUnrestoredValueWarnings)
             for f in logger.filters):
    logger.addFilter(_DropUnrestoredValueWarnings())
  text = str(error).strip()
  first = text.splitlines()[0] if text else type(error).__name__
  return CheckpointError(f"checkpoint {path} does not fit this model "
                         f"(another architecture?): {first[:300]}")


LAST_BATCH = "last_batch"


def make_manager(model, directory, max_to_keep):
  extra = {}
  if getattr(model, "last_batch", None):
    extra[LAST_BATCH] = tf.train.Checkpoint(**model.last_batch)
  checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer,
                                   **extra)
  return tf.train.CheckpointManager(checkpoint, directory,
                                    max_to_keep=max_to_keep,
                                    step_counter=model.optimizer.iterations)


def build_optimizer(model):
  """Creates the optimizer's slot variables so a restore fills them at once."""
  model.optimizer.build(model.trainable_variables)


def restore(manager, path=None):
  """Restores the latest (or given) checkpoint; returns its path or None.

  Raises CheckpointError with one line when shapes or structure do not match.
  """
  path = path or manager.latest_checkpoint
  if path is None:
    return None
  try:
    status = manager.checkpoint.restore(path)
    if _has_last_batch(manager.checkpoint, path):
      status.assert_existing_objects_matched()
    else:  # An older checkpoint: everything but `last_batch` must match.
      status.expect_partial()
      tf.train.Checkpoint(
          model=manager.checkpoint.model,
          optimizer=manager.checkpoint.optimizer).restore(
              path).expect_partial().assert_existing_objects_matched()
  except (ValueError, AssertionError, tf.errors.OpError) as e:
    raise _does_not_fit(path, e) from None
  return path


def _has_last_batch(checkpoint, path):
  if not hasattr(checkpoint, LAST_BATCH):
    return True  # Nothing to miss.
  names = tf.train.load_checkpoint(path).get_variable_to_shape_map()
  return any(name.startswith(LAST_BATCH + "/") for name in names)


def restore_model(model, path):
  """Restores only the model's variables from a checkpoint path or directory."""
  if os.path.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if latest is None:
      nested = os.path.join(path, "checkpoints")
      latest = tf.train.latest_checkpoint(nested) if os.path.isdir(nested) else None
    if latest is None:
      raise CheckpointError(f"no checkpoint found in {path}")
    path = latest
  elif not glob.glob(path + ".index"):
    raise CheckpointError(f"no checkpoint at {path}")
  try:
    status = tf.train.Checkpoint(model=model).restore(path)
    status.expect_partial()
    status.assert_existing_objects_matched()
  except (ValueError, AssertionError, tf.errors.OpError) as e:
    raise _does_not_fit(path, e) from None
  return path


def checkpoint_step(path):
  """The global step saved in a checkpoint (None if it has no optimizer)."""
  key = "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"
  reader = tf.train.load_checkpoint(path)
  if not reader.has_tensor(key):
    return None
  return int(reader.get_tensor(key))
