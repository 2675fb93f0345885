"""A finished (or running) tfvae run directory.

Reads the run's config (today's flat form, or a nested one such as
{"model": {...}, "objective": {...}, ...}, flattened here), its data spec
(`image_shape`: the event shape) and, when present, its final metrics (the
fitted sigma, and the KL weight at the end for balancers and schedules that
change it), through the run directory's readers (`tfvae.runs.rundir`, file
names in `tfvae.runs.paths`), none of which imports TensorFlow.
"""

import os

from tfvae.conventions import _common
from tfvae.conventions import flagfile
from tfvae.conventions import native
from tfvae.errors import ConfigError
from tfvae.runs import paths
from tfvae.runs import rundir

PEER = "run"
VERSION = native.VERSION
SOURCE = (f"tfvae/runs/rundir.py ({paths.CONFIG_FILE}, {paths.DATA_FILE}, "
          f"{paths.FINAL_METRICS_FILE})")
# Names a nested config may use for the flat fields read here.
_ALIASES = {"rec": "rec_reduction", "kl": "kl_reduction"}


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
  if not paths.has_config(logdir):
    raise ConfigError(f"{paths.config_path(logdir)}: no {paths.CONFIG_FILE} "
                      "(not a tfvae run directory?)")
  config = rundir.read_config_dict(logdir)
  if not isinstance(config, dict):
    raise ConfigError(f"{paths.config_path(logdir)}: not a JSON object")
  values = flagfile.typed(flatten(config))
  shape = _common.parse_shape(input_shape)
  if shape is None:
    data = rundir.read_data_spec(logdir)
    if data and data.get("image_shape"):
      shape = _common.parse_shape(data["image_shape"], "image_shape")
    else:
      shape = flagfile.event_shape_of(
          values.get("dataset", native.defaults()["dataset"]))
  final = rundir.read_final_metrics(logdir, strict=True)
  return native.from_config(values, shape, final)
