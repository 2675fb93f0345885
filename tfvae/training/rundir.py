"""A run's directory: its config, checkpoints, events, and the rules that protect them.

Layout of `<logdir>`:

    config.json          the run's full config (written atomically at start)
    checkpoints/         tf.train.CheckpointManager files (model, optimizer,
                         global step, schedule and controller state)
    train/, validation/  TensorBoard event files
    final_metrics.json   written atomically at the end

Rules (nothing is lost without an explicit flag):
- a logdir holding a run of the *same* training config resumes from its latest
  checkpoint (`--resume=auto`, the default, or `--resume=true`);
- a logdir holding a run of *another* config is refused unless `--overwrite`;
- `--resume=false` on a non-empty logdir is refused unless `--overwrite`.
"""

import json
import os
import shutil
import tempfile

from tfvae.errors import ConfigError

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
FINAL_METRICS_FILE = "final_metrics.json"


def atomic_write_text(path, text):
  """Writes via a temporary file in the same directory and renames it."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
  try:
    with os.fdopen(fd, "w") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def has_run(logdir):
  return os.path.exists(os.path.join(logdir, CONFIG_FILE)) or os.path.isdir(
      os.path.join(logdir, CHECKPOINT_DIR))


def read_config(logdir):
  path = os.path.join(logdir, CONFIG_FILE)
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise ConfigError(f"{path}: cannot read the run's config ({e})") from None


def differing_keys(saved, config):
  """Training settings that differ between a saved run and `config`."""
  ignore = set(config.to_dict()) - set(config.training_dict())
  keys = (set(saved) | set(config.to_dict())) - ignore
  current = config.to_dict()
  return sorted(k for k in keys if saved.get(k) != current.get(k))


def prepare(config):
  """Applies the rules above; returns True when the run resumes."""
  logdir = config.logdir
  if os.path.exists(logdir) and not os.path.isdir(logdir):
    raise ConfigError(f"--logdir {logdir} exists and is not a directory")
  if has_run(logdir):
    if config.overwrite:
      shutil.rmtree(logdir)
    elif config.resume == "false":
      raise ConfigError(f"--logdir {logdir} already holds a run; pass "
                        "--overwrite to replace it or --resume to continue it")
    else:
      saved = read_config(logdir)
      diff = differing_keys(saved, config)
      if diff:
        raise ConfigError(
            f"--logdir {logdir} holds a run of another config (differs in: "
            f"{', '.join(diff)}); use another --logdir or --overwrite")
      return True
  os.makedirs(logdir, exist_ok=True)
  atomic_write_text(os.path.join(logdir, CONFIG_FILE), config.to_json())
  return False


def checkpoint_dir(logdir):
  return os.path.join(logdir, CHECKPOINT_DIR)


def write_json(path, values):
  atomic_write_text(path, json.dumps(values, indent=2, sort_keys=True) + "\n")
