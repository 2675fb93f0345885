"""A finished (or running) tfvae run directory.

Reads `<logdir>/config.json` (the run's config: today's flat form, or a
nested one such as {"model": {...}, "objective": {...}, ...}, flattened
here), `<logdir>/data.json` (`image_shape`: the event shape) and, when
present, `<logdir>/final_metrics.json` (the fitted sigma, and the KL weight
at the end for balancers and schedules that change it). The files are the
ones `tfvae.training.rundir` writes.
"""

import json
import os

from tfvae.conventions import _common
from tfvae.conventions import flagfile
from tfvae.conventions import native
from tfvae.errors import ConfigError

PEER = "run"
VERSION = native.VERSION
SOURCE = "tfvae/training/rundir.py (config.json, data.json, final_metrics.json)"
# Names a nested config may use for the flat fields read here.
_ALIASES = {"rec": "rec_reduction", "kl": "kl_reduction"}


def _read_json(path, what, required=True):
  if not os.path.exists(path):
    if required:
      raise ConfigError(f"{path}: no {what} (not a tfvae run directory?)")
    return None
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise ConfigError(f"{path}: cannot read the {what} ({e})") from None


def flatten(config):
  """A nested config dict -> flat field names (leaves; known aliases)."""
  flat = {}

  def walk(node):
    for key, value in node.items():
      if isinstance(value, dict):
        walk(value)
      else:
        flat[_ALIASES.get(key, key)] = value

  walk(config)
  # A flat config wins over aliases found in nested sections.
  flat.update({k: v for k, v in config.items() if not isinstance(v, dict)})
  return flat


def read(logdir, input_shape=None):
  """The convention of the run in `logdir`."""
  if not os.path.isdir(logdir):
    raise ConfigError(f"{logdir}: no such run directory")
  config = _read_json(os.path.join(logdir, "config.json"), "config.json")
  if not isinstance(config, dict):
    raise ConfigError(f"{logdir}/config.json: not a JSON object")
  values = flagfile.typed(flatten(config))
  shape = _common.parse_shape(input_shape)
  if shape is None:
    data = _read_json(os.path.join(logdir, "data.json"), "data.json",
                      required=False)
    if data and data.get("image_shape"):
      shape = _common.parse_shape(data["image_shape"], "image_shape")
    else:
      shape = flagfile.event_shape_of(
          values.get("dataset", native.defaults()["dataset"]))
  final = _read_json(os.path.join(logdir, "final_metrics.json"),
                     "final_metrics.json", required=False)
  return native.from_config(values, shape, final)
