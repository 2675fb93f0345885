"""What every config section shares: documented fields and value checks.

A section is a small dataclass; each field is declared with `option`, which
keeps its help text and (for a choice) its allowed values in the field's
metadata, so the command line's flags (`tfvae.cli.flags`) are generated from
the one declaration; a registry's components (likelihood families,
balancers) add theirs with `with_settings`. Check helpers (`tfvae.settings`)
raise `ConfigError` naming the field (`latent_dim must be an integer >= 1,
got 0`), never a flag.
"""

import dataclasses
import typing

from tfvae import settings
# pylint: disable=unused-import
from tfvae.settings import non_negative_finite
from tfvae.settings import option
from tfvae.settings import positive_int
# pylint: enable=unused-import


def choices_of(cls, name):
  """The allowed values of field `name` of section `cls` (None: any)."""
  return next(f for f in dataclasses.fields(cls)
              if f.name == name).metadata.get("choices")


def value_type(cls, name):
  """The plain Python type of a field: bool, int, float or str."""
  hint = typing.get_type_hints(cls)[name]
  args = [a for a in typing.get_args(hint) if a is not type(None)]
  if typing.get_origin(hint) is typing.Literal:
    return type(args[0])
  if args:  # Optional[X]
    inner = args[0]
    if typing.get_origin(inner) is typing.Literal:
      return type(typing.get_args(inner)[0])
    return inner
  return hint


def with_settings(name, base, collected):
  """The section class `name`: the fields of `base` (a Section dataclass)
  followed by the settings a registry collected ({field name: (its
  dataclass field, the components that read it)}: every likelihood
  family's or balancer's `Settings`), so a registered component adds its
  settings without touching the section."""
  fields = [(field_name, field.type, dataclasses.field(
      default=field.default, default_factory=field.default_factory,
      metadata=field.metadata))
            for field_name, (field, _) in collected.items()]
  section = dataclasses.make_dataclass(name, fields, bases=(base,))
  section.__module__ = base.__module__
  section.__doc__ = base.__doc__
  return section


class Section:
  """Mixin of a config section: choice checks and a flat dict."""

  def check_choices(self):
    settings.check_choices(type(self), self)

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


one_of = settings.one_of
