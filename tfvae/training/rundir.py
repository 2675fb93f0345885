"""A run's directory: its config, checkpoints, events, and the rules that protect them.

Layout of `<logdir>`:

    config.json          the run's full config (written atomically at start)
    checkpoints/         tf.train.CheckpointManager files (model, optimizer,
                         global step, schedule and controller state)
    train/, validation/  TensorBoard event files
    final_metrics.json   written atomically at the end
    data.json            shape and scale of the training images (export needs
                         them without reloading the data)

Rules (nothing is lost without an explicit flag):
- a logdir holding a run of the *same* training config resumes from its latest
  checkpoint (`--resume=auto`, the default, or `--resume=true`);
- a logdir holding a run of *another* config is refused unless `--overwrite`;
- `--resume=false` on a non-empty logdir is refused unless `--overwrite`.
"""

import json
import os
import re
import shutil
import tempfile

from tfvae.errors import ConfigError

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
FINAL_METRICS_FILE = "final_metrics.json"
DATA_FILE = "data.json"


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


def check(config):
  """Applies the rules above without writing; returns True when the run resumes.

  Raises ConfigError (one line) when the logdir may not be used as asked.
  """
  logdir = config.logdir
  if os.path.exists(logdir) and not os.path.isdir(logdir):
    raise ConfigError(f"--logdir {logdir} exists and is not a directory")
  if not has_run(logdir) or config.overwrite:
    return False
  if config.resume == "false":
    raise ConfigError(f"--logdir {logdir} already holds a run; pass "
                      "--overwrite to replace it or --resume to continue it")
  saved = read_config(logdir)
  diff = differing_keys(saved, config)
  if diff:
    raise ConfigError(
        f"--logdir {logdir} holds a run of another config (differs in: "
        f"{', '.join(diff)}); use another --logdir or --overwrite")
  return True


def prepare(config):
  """Applies the rules above; returns True when the run resumes."""
  if check(config):
    return True
  logdir = config.logdir
  if has_run(logdir):  # Only with --overwrite (check() refused otherwise).
    for name in os.listdir(logdir):  # All but the run lock (`runlock`).
      path = os.path.join(logdir, name)
      if name == ".lock":
        continue
      if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
      else:
        os.remove(path)
  os.makedirs(logdir, exist_ok=True)
  atomic_write_text(os.path.join(logdir, CONFIG_FILE), config.to_json())
  return False


def checkpoint_dir(logdir):
  return os.path.join(logdir, CHECKPOINT_DIR)


def write_json(path, values):
  atomic_write_text(path, json.dumps(values, indent=2, sort_keys=True) + "\n")


def data_spec(data):
  """What serving needs to know about the training data (`ImageData`).

  `uint8_scale` is the factor that turns raw stored uint8 values into model
  inputs (1/16 for digits, 1/255 for uint8 images), None for float data.
  """
  arrays = [a for a in (data.train, data.validation) if a is not None]
  stored_uint8 = bool(arrays) and all(str(a.dtype) == "uint8" for a in arrays)
  return {
      "image_shape": [int(d) for d in data.image_shape],
      "data_scale": float(data.scale),
      "stored_dtype": "uint8" if stored_uint8 else "float32",
      "uint8_scale": float(data.scale) if stored_uint8 else None,
      "support": data.support,
  }


def read_data_spec(logdir):
  """The run's data.json, or None when the run has none."""
  path = os.path.join(logdir, DATA_FILE)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise ConfigError(f"{path}: cannot read ({e})") from None


def _latest_in(directory):
  """Latest checkpoint prefix in a CheckpointManager directory, or None.

  Reads the `checkpoint` state file (a text proto) without TensorFlow; falls
  back to the highest-numbered `ckpt-N.index`.
  """
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


def find_checkpoint(path):
  """(logdir, checkpoint prefix) of a run's logdir, checkpoints/ or a prefix.

  Raises ConfigError (one line) when `path` names no tfvae checkpoint.
  """
  if path.endswith(".index"):
    path = path[:-len(".index")]
  if os.path.isdir(path):
    if os.path.exists(os.path.join(path, CONFIG_FILE)):
      logdir, directory = path, checkpoint_dir(path)
    else:
      logdir, directory = os.path.dirname(os.path.abspath(path)), path
    if not os.path.exists(os.path.join(logdir, CONFIG_FILE)):
      raise ConfigError(f"--checkpoint {path}: not a tfvae run directory (no "
                        f"{CONFIG_FILE})")
    prefix = _latest_in(directory) if os.path.isdir(directory) else None
    if prefix is None:
      raise ConfigError(f"--checkpoint {path}: the run has no checkpoint yet")
    return logdir, prefix
  if os.path.exists(path + ".index"):
    directory = os.path.dirname(os.path.abspath(path))
    for logdir in (os.path.dirname(directory), directory):
      if os.path.exists(os.path.join(logdir, CONFIG_FILE)):
        return logdir, path
    raise ConfigError(f"--checkpoint {path}: no {CONFIG_FILE} of its run next "
                      "to it or one directory up")
  raise ConfigError(f"--checkpoint {path}: no such run directory or "
                    "checkpoint")
