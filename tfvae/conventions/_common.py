"""Argument checks and shape parsing shared by the readers."""

import math

from tfvae.errors import ConfigError


def choice(name, value, choices):
  if value not in choices:
    raise ConfigError(f"{name}={value!r} is not one of {', '.join(choices)}")
  return value


def required(name, value, peer):
  if value is None:
    raise ConfigError(f"{name} is required for the {peer} convention")
  return value


def parse_shape(value, name="input_shape"):
  """`(64, 64, 1)`, `[64, 64, 1]`, `"64,64,1"` or `"64x64x1"` -> a tuple."""
  if value is None:
    return None
  if isinstance(value, str):
    separator = "," if "," in value else "x"
    parts = value.split(separator)
    try:
      value = [int(p) for p in parts]
    except ValueError:
      raise ConfigError(f"{name}={value!r} must be sizes like 64,64,1") \
          from None
  shape = tuple(value)
  if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1
                      for d in shape):
    raise ConfigError(f"{name}={value!r} must be one or more integers >= 1")
  return shape


def number(name, value):
  if value is None:
    return None
  if isinstance(value, bool):
    raise ConfigError(f"{name} must be a number, got {value!r}")
  try:
    value = float(value)
  except (TypeError, ValueError):
    raise ConfigError(f"{name} must be a number, got {value!r}") from None
  if not (math.isfinite(value) and value >= 0):
    raise ConfigError(f"{name} must be >= 0 and finite, got {value!r}")
  return value
