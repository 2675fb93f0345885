"""tfvae flagfiles (`scripts/flags/*.flags`, absl's flagfile format).

One `--name=value` per line; `#` starts a comment line; `--flagfile=PATH`
includes another file (relative paths are tried from the working directory,
as absl does, then from the including file's directory); later values win.
Boolean `--name` / `--noname` lines are accepted and ignored here. The
event shape comes from `--dataset` for tfvae's built-in data sets (digits
8x8x1, dsprites 64x64x1, shapes_rgb 32x32x3, mixed_table [9]), else from
`input_shape`.
"""

import os

from tfvae.conventions import _common
from tfvae.conventions import native
from tfvae.errors import ConfigError

PEER = "flagfile"
VERSION = native.VERSION
SOURCE = "scripts/flags/*.flags"
_NUMERIC = ("beta", "beta_norm", "capacity_gamma", "capacity_max",
            "kl_stop", "free_bits")
_INTEGER = ("latent_dim", "capacity_steps")


def parse(path, _seen=None):
  """The flag values of a flagfile, includes followed (text values)."""
  seen = _seen or set()
  real = os.path.realpath(path)
  if real in seen:
    raise ConfigError(f"{path}: --flagfile include cycle")
  seen.add(real)
  try:
    with open(path) as f:
      lines = f.read().splitlines()
  except OSError as e:
    raise ConfigError(f"cannot read flagfile: {e}") from None
  values = {}
  for number, raw in enumerate(lines, 1):
    line = raw.strip()
    if not line or line.startswith("#") or line.startswith("//"):
      continue
    if not line.startswith("--"):
      raise ConfigError(f"{path}:{number}: not a --name=value line: {line!r}")
    if "=" not in line:
      continue  # A boolean --name / --noname: no weighting flag is boolean.
    name, value = line[2:].split("=", 1)
    if name == "flagfile":
      target = value
      if not os.path.isabs(target) and not os.path.exists(target):
        target = os.path.join(os.path.dirname(path), target)
      values.update(parse(target, seen))
    else:
      values[name] = value
  return values


def typed(values):
  """Flag text -> the types `native.from_config` expects."""
  out = dict(values)
  for name in _NUMERIC:
    if name in out:
      out[name] = _common.number(name, out[name])
  for name in _INTEGER:
    if name in out:
      try:
        out[name] = int(out[name])
      except ValueError:
        raise ConfigError(f"--{name}={out[name]!r} is not an integer") \
            from None
  return out


def event_shape_of(dataset, input_shape=None):
  shape = _common.parse_shape(input_shape)
  if shape is not None:
    return shape
  if dataset in native.DATASET_SHAPES:
    return native.DATASET_SHAPES[dataset]
  raise ConfigError(f"--dataset={dataset} has no known event shape; give "
                    "input_shape (e.g. 64,64,1)")


def read(path, input_shape=None):
  """The convention of a tfvae flagfile."""
  values = typed(parse(path))
  shape = event_shape_of(values.get("dataset", native.defaults()["dataset"]),
                         input_shape)
  return native.from_config(values, shape)
