"""Checkpoints: model, optimizer (with the global step), and every piece of state.

The model's non-trainable variables hold the KL weight and all controller state
(GECO's multiplier and moving average, ControlVAE's integrator), so one
`tf.train.Checkpoint(model=..., optimizer=...)` saves and restores all of it,
plus `last_batch`: the logged values of the last training batch (the KL
weight, beta, sigma a finished run reports), which Keras does not track as
checkpoint dependencies of the model (they sit in a dict). A checkpoint
without `last_batch` restores too (without those values).
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

from tfvae.errors import CheckpointError
from tfvae.errors import StorageError
from tfvae.runs import checkpoint_files


def storage_error(what, error):
  """One line for an OSError or TensorFlow I/O error while writing `what`."""
  if isinstance(error, OSError):
    reason = error.strerror or str(error)
  else:
    text = str(getattr(error, "message", error)).strip()
    reason = text.splitlines()[0] if text else type(error).__name__
  return StorageError(f"cannot write {what}: {reason[:300]}")


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
  if not model.optimizer.built:  # a second build would forget the variables
    own = {id(v) for v in getattr(model, "own_trainable_variables",
                                  lambda: [])()}
    model.optimizer.build([v for v in model.trainable_variables
                           if id(v) not in own])


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
    else:  # No `last_batch` saved: everything else must match.
      status.expect_partial()
      tf.train.Checkpoint(
          model=manager.checkpoint.model,
          optimizer=manager.checkpoint.optimizer).restore(
              path).expect_partial().assert_existing_objects_matched()
  except (ValueError, AssertionError, tf.errors.OpError) as e:
    raise _does_not_fit(path, e) from None
  return path


def unreadable_reason(path):
  """None when every tensor of the checkpoint `path` reads back, else why.

  Each tensor's CRC32C is checked as it is read, so a truncated or
  overwritten data file is caught, not only a missing one.
  """
  try:
    reader = tf.train.load_checkpoint(path)
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)
  # The reader raises OpErrors, IndexError ("Read less bytes than
  # requested"), ValueError...: any failure to read back means unreadable.
  except Exception as e:  # pylint: disable=broad-except
    text = str(getattr(e, "message", e)).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"[:200]
  return None


def set_aside_unreadable(directory, warn):
  """Moves the newest unreadable checkpoints out of a resume's way.

  Walks the CheckpointManager index of `directory` from the newest
  checkpoint down; each that does not read back (truncated, corrupt, files
  missing) has its files renamed to `<file>.unreadable` and leaves the index,
  until a readable one is found, which then is the latest. An index that
  does not parse is rebuilt from the checkpoint files first. Prints one
  warning line per checkpoint set aside (and for a rebuilt index); returns
  the paths set aside.
  """
  paths, rebuilt = _indexed_paths(directory, warn)
  set_aside = []
  while paths:
    reason = unreadable_reason(paths[-1])
    if reason is None:
      break
    path = paths.pop()
    for name in glob.glob(glob.escape(path) + ".*"):
      if not name.endswith(".unreadable"):
        os.replace(name, name + ".unreadable")
    set_aside.append(path)
    older = paths[-1] if paths else None
    warn(f"warning: checkpoint {path} is unreadable ({reason}); set aside as "
         f"{os.path.basename(path)}.*.unreadable, resuming from "
         f"{older or 'step 0 (no readable checkpoint)'}")
  if set_aside or rebuilt:
    # The manager's own (non-deprecated) writer of the index, atomic.
    from tensorflow.python.checkpoint import checkpoint_management  # pylint: disable=import-outside-toplevel
    checkpoint_management.update_checkpoint_state_internal(
        directory, paths[-1] if paths else "",
        all_model_checkpoint_paths=paths, save_relative_paths=True)
    if not paths:
      os.remove(os.path.join(directory, "checkpoint"))
  return set_aside


def _indexed_paths(directory, warn):
  """(checkpoint paths the index of `directory` lists, oldest first, rebuilt).

  An index that exists but does not parse (garbage, or empty: written by
  hand, or cut short by something other than TensorFlow's atomic writer) is
  rebuilt from the `ckpt-<step>.index` files on disk, with one warning line.
  TensorFlow would read it as "no checkpoint", and the resumed run would
  start again at step 0 and overwrite the checkpoints of its first steps.
  """
  index = os.path.join(directory, "checkpoint")
  try:
    state = tf.train.get_checkpoint_state(directory)
  except ValueError:  # TF's answer to an index without a latest path
    state = None
  if state is not None:
    paths = list(state.all_model_checkpoint_paths) or [
        state.model_checkpoint_path]
    return [p if os.path.isabs(p) else os.path.join(directory, p)
            for p in paths], False
  if not os.path.exists(index):
    return [], False
  paths = sorted((name[:-len(".index")] for name in glob.glob(
      os.path.join(glob.escape(directory), "ckpt-*.index"))),
                 key=checkpoint_files.step_of)
  found = ", ".join(os.path.basename(p) for p in paths) or "none"
  warn(f"warning: checkpoint index {index} is unreadable; rebuilt from the "
       f"checkpoints on disk ({found})")
  return paths, True


def _has_last_batch(checkpoint, path):
  if not hasattr(checkpoint, LAST_BATCH):
    return True  # Nothing to miss.
  names = tf.train.load_checkpoint(path).get_variable_to_shape_map()
  return any(name.startswith(LAST_BATCH + "/") for name in names)


def restore_model(model, path):
  """Restores only the model's variables from a checkpoint path or directory."""
  if os.path.isdir(path):
    latest = checkpoint_files.latest_checkpoint(path)
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
