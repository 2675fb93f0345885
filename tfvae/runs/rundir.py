"""A run directory's rules: resume, refuse or replace, and its config and data.

Rules (nothing is lost without an explicit setting):
- a logdir holding a run of the *same* training config resumes from its latest
  checkpoint (`resume="auto"`, the default, or `resume="true"`);
- a logdir holding a run of *another* config is refused unless `overwrite`;
- `resume="false"` on a non-empty logdir is refused unless `overwrite`.

The file names are in `tfvae.runs.paths`. Reading the files needs no
TensorFlow (the weighting translator reads runs); turning a config dict into
an `ExperimentConfig` imports it, at the call.
"""

# pylint: disable=import-outside-toplevel

import os
import shutil

from tfvae.errors import ConfigError
from tfvae.runs import files
from tfvae.runs import paths


def read_config_dict(logdir):
  """The run's config.json as saved (nested, or flat)."""
  return files.read_json_or_fail(paths.config_path(logdir), "the run's config")


def read_config(logdir):
  """The run's `ExperimentConfig` (not validated)."""
  from tfvae.config import ExperimentConfig
  values = read_config_dict(logdir)
  try:
    return ExperimentConfig.from_dict(values)
  except (TypeError, ConfigError) as e:
    raise ConfigError(f"{paths.config_path(logdir)}: cannot read the run's "
                      f"config ({e})") from None


def read_flat_config(logdir):
  """{setting: value} of the run's config, or None when it is unreadable."""
  from tfvae.config import ExperimentConfig
  values = files.read_json_or_none(paths.config_path(logdir))
  if not isinstance(values, dict):
    return None
  try:
    return ExperimentConfig.from_dict(values).to_flat()
  except (TypeError, ConfigError):
    return None


# Precisions whose checkpoints hold the same variables (float32 weights and
# optimizer state, no loss scale): a run may resume in another one of them,
# as with another --jit_compile. mixed_float16 adds a loss scale.
SAME_CHECKPOINT_PRECISIONS = ("none", "mixed_bfloat16", "auto")


def _checkpoint_kind(policy):
  return "float32" if policy in SAME_CHECKPOINT_PRECISIONS else policy


def differing_keys(saved, config):
  """Training settings that differ between a saved config dict and `config`.

  `saved` may be nested or flat; settings it lacks count as their
  defaults. Precisions count as equal when their checkpoints
  are interchangeable (`SAME_CHECKPOINT_PRECISIONS`): a float32 run may
  continue in bfloat16 and back.
  """
  from tfvae.config import ExperimentConfig
  try:
    saved = ExperimentConfig.from_dict(saved).to_flat()
  except (TypeError, ConfigError):
    pass
  current = config.training_dict()
  ignore = set(config.to_flat()) - set(current)
  keys = (set(saved) | set(current)) - ignore

  def same(key):
    if key == "mixed_precision":
      return _checkpoint_kind(saved.get(key)) == _checkpoint_kind(
          current.get(key))
    return saved.get(key) == current.get(key)
  return sorted(k for k in keys if not same(k))


def check(config):
  """Applies the rules above without writing; returns True when the run resumes.

  Raises ConfigError (one line, about `logdir`) when the logdir may not be
  used as asked.
  """
  logdir = config.run.logdir
  if os.path.exists(logdir) and not os.path.isdir(logdir):
    raise ConfigError(f"logdir {logdir} exists and is not a directory",
                      params=("logdir",))
  if not paths.has_run(logdir) or config.run.overwrite:
    return False
  if config.run.resume == "false":
    raise ConfigError(f"logdir {logdir} already holds a run; pass "
                      "overwrite to replace it or resume to continue it",
                      params=("logdir", "overwrite", "resume"))
  diff = differing_keys(read_config_dict(logdir), config)
  if diff:
    raise ConfigError(
        f"logdir {logdir} holds a run of another config (differs in: "
        f"{', '.join(diff)}); use another logdir or overwrite",
        params=("logdir", "overwrite"))
  return True


def prepare(config):
  """Applies the rules above; returns True when the run resumes."""
  if check(config):
    return True
  logdir = config.run.logdir
  if paths.has_run(logdir):  # Only with overwrite (check() refused otherwise).
    for name in os.listdir(logdir):  # All but the run lock (`runlock`).
      path = os.path.join(logdir, name)
      if name == ".lock":
        continue
      if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
      else:
        os.remove(path)
  os.makedirs(logdir, exist_ok=True)
  files.atomic_write_text(paths.config_path(logdir), config.to_json())
  return False


# Optional data-set attributes written to data.json when set.
DESCRIBED_DATA_KEYS = ("columns", "num_classes", "vocab", "pad_id")


def data_spec(data):
  """What serving needs to know about the training data (`ImageData`).

  `uint8_scale` is the factor that turns raw stored uint8 values into model
  inputs (1/16 for digits, 1/255 for uint8 images), None for float data.
  Data sets that describe their values add `columns` (a table's column
  spec), `num_classes` and `vocab` (integer ids); others leave them out.
  """
  arrays = [a for a in (data.train, data.validation) if a is not None]
  stored_uint8 = bool(arrays) and all(str(a.dtype) == "uint8" for a in arrays)
  spec = {
      "image_shape": [int(d) for d in data.image_shape],
      "data_scale": float(data.scale),
      "stored_dtype": "uint8" if stored_uint8 else "float32",
      "uint8_scale": float(data.scale) if stored_uint8 else None,
      "support": data.support,
      # What rebuilding the model needs besides the config: the training
      # set's size (beta-TCVAE's estimator, the default number of steps).
      "num_train": int(data.num_train),
  }
  # What the columns and categorical likelihoods default to when rebuilt.
  for key in DESCRIBED_DATA_KEYS:
    value = getattr(data, key, None)
    if value is not None:
      spec[key] = list(value) if isinstance(value, tuple) else value
  return spec


def read_data_spec(logdir):
  """The run's data.json, or None when the run has none."""
  path = paths.data_spec_path(logdir)
  if not os.path.exists(path):
    return None
  return files.read_json_or_fail(path, "the run's data spec")


def write_data_spec(logdir, spec):
  files.write_json(paths.data_spec_path(logdir), spec)


def read_final_metrics(logdir, strict=False):
  """The run's final_metrics.json, or None when missing (or unreadable,
  unless `strict`: then ConfigError)."""
  path = paths.final_metrics_path(logdir)
  if strict and os.path.exists(path):
    return files.read_json_or_fail(path, "the run's final metrics")
  return files.read_json_or_none(path)


def write_final_metrics(logdir, final):
  files.write_json(paths.final_metrics_path(logdir), final)
