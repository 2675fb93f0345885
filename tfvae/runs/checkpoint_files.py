"""Finding a run's checkpoints on disk, without TensorFlow.

A run keeps `tf.train.CheckpointManager` files in `<logdir>/checkpoints/`:
`ckpt-<step>.index` / `.data-*` and a `checkpoint` state file (a text proto)
naming the latest. Restoring them is `tfvae.runs.checkpoints`' job.
"""

import os
import re

from tfvae.errors import ConfigError
from tfvae.runs import paths


def step_of(prefix):
  """The global step in a checkpoint prefix `.../ckpt-<step>` (0 if absent)."""
  match = re.search(r"-(\d+)$", prefix)
  return int(match.group(1)) if match else 0


def latest_in(directory):
  """Latest checkpoint prefix in a CheckpointManager directory, or None.

  Reads the `checkpoint` state file; falls back to the highest-numbered
  `ckpt-N.index`.
  """
  if not os.path.isdir(directory):
    return None
  state = os.path.join(directory, "checkpoint")
  if os.path.isfile(state):
    with open(state) as f:
      match = re.search(r'^model_checkpoint_path:\s*"(.*)"\s*$', f.read(),
                        re.MULTILINE)
    if match:
      prefix = match.group(1)
      if not os.path.isabs(prefix):
        prefix = os.path.join(directory, prefix)
      if os.path.exists(prefix + ".index"):
        return prefix
  numbered = []
  for name in os.listdir(directory):
    match = re.fullmatch(r"ckpt-(\d+)\.index", name)
    if match:
      numbered.append((int(match.group(1)), name[:-len(".index")]))
  return os.path.join(directory, max(numbered)[1]) if numbered else None


def latest_checkpoint(path):
  """The latest prefix in `path` or in `path`/checkpoints/, or None."""
  return latest_in(path) or latest_in(paths.checkpoint_dir(path))


def find_checkpoint(path):
  """(logdir, checkpoint prefix) of a run's logdir, checkpoints/ or a prefix.

  Raises ConfigError (one line, about `checkpoint`) when `path` names no
  tfvae checkpoint.
  """
  def fail(message):
    return ConfigError(f"checkpoint {path}: {message}", params=("checkpoint",))

  if path.endswith(".index"):
    path = path[:-len(".index")]
  if os.path.isdir(path):
    if paths.has_config(path):
      logdir, directory = path, paths.checkpoint_dir(path)
    else:
      logdir, directory = os.path.dirname(os.path.abspath(path)), path
    if not paths.has_config(logdir):
      raise fail(f"not a tfvae run directory (no {paths.CONFIG_FILE})")
    prefix = latest_in(directory)
    if prefix is None:
      raise fail("the run has no checkpoint yet")
    return logdir, prefix
  if os.path.exists(path + ".index"):
    directory = os.path.dirname(os.path.abspath(path))
    for logdir in (os.path.dirname(directory), directory):
      if paths.has_config(logdir):
        return logdir, path
    raise fail(f"no {paths.CONFIG_FILE} of its run next to it or one "
               "directory up")
  raise fail("no such run directory or checkpoint")
