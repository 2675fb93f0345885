"""Declared settings: a dataclass field that carries its help and choices.

Config sections (`tfvae.config`) and component families (each likelihood's
and balancer's `Settings`) declare their settings with `option`, so the
command line's flags, their help, the choice checks and the ignored-flag
rules are generated from the one declaration. Plain Python, no TensorFlow.
"""

import dataclasses


def option(default, help, choices=None):  # pylint: disable=redefined-builtin
  """A dataclass field with its help text and allowed values (or None)."""
  metadata = {"help": help}
  if choices is not None:
    metadata["choices"] = tuple(choices)
  return dataclasses.field(default=default, metadata=metadata)
