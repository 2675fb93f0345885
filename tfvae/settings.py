"""Declared settings: a dataclass field that carries its help and choices.

Config sections (`tfvae.config`) and component families (each likelihood's
and balancer's `Settings`) declare their settings with `option`, so the
command line's flags, their help, the choice checks and the ignored-flag
rules are generated from the one declaration; the value checks here raise
`ConfigError` naming the setting (`latent_dim must be an integer >= 1, got
0`), never a flag. Plain Python, no TensorFlow.
"""

import dataclasses
import math

from tfvae.errors import ConfigError


def option(default, help, choices=None):  # pylint: disable=redefined-builtin
  """A dataclass field with its help text and allowed values (or None)."""
  metadata = {"help": help}
  if choices is not None:
    metadata["choices"] = tuple(choices)
  return dataclasses.field(default=default, metadata=metadata)


def positive_int(name, value):
  if not isinstance(value, int) or isinstance(value, bool) or value < 1:
    raise ConfigError(f"{name} must be an integer >= 1, got {value!r}",
                      params=(name,))


def non_negative_finite(name, value):
  if value is not None and not (value >= 0 and math.isfinite(value)):
    raise ConfigError(f"{name} must be >= 0 and finite, got {value}",
                      params=(name,))


def one_of(name, value, choices):
  if value not in choices:
    raise ConfigError(f"{name}={value!r} is not one of "
                      f"{', '.join(map(str, choices))}", params=(name,))


def check_choices(settings_class, values):
  """Checks every field of the dataclass `settings_class` declared with
  choices against its value in `values` (any object with those attributes)."""
  for field in dataclasses.fields(settings_class):
    choices = field.metadata.get("choices")
    if choices is not None:
      one_of(field.name, getattr(values, field.name), choices)
