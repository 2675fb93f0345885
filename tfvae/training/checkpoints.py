"""Checkpoints: model, optimizer (with the global step), and every piece of state.

The model's non-trainable variables hold the KL weight and all controller state
(GECO's multiplier and moving average, ControlVAE's integrator), so one
`tf.train.Checkpoint(model=..., optimizer=...)` saves and restores all of it.
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
import os

import tensorflow as tf

from tfvae.errors import TfvaeError


class CheckpointError(TfvaeError):
  """A checkpoint that cannot be restored into this model."""


def make_manager(model, directory, max_to_keep):
  checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
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
    status.assert_existing_objects_matched()
  except (ValueError, AssertionError, tf.errors.OpError) as e:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise CheckpointError(f"checkpoint {path} does not fit this model "
                          f"(another architecture?): {first[:300]}") from None
  return path


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
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise CheckpointError(f"checkpoint {path} does not fit this model "
                          f"(another architecture?): {first[:300]}") from None
  return path
