"""absl flags generated from the config dataclasses, and the CLI's error rules.

One flag per setting of `tfvae.config.ExperimentConfig` (the flat field name,
its type, default and help text from the field's declaration) and per
evaluation option (`tfvae.evaluation.options`); `config_from_flags` builds the
one config. How a program fails (one line, exit status 2: `parse`,
`run_guarded`) is `tfvae.cli.guard`, re-exported here.
"""

import dataclasses
import os
import re
import sys
import warnings

from absl import flags
from absl import logging

from tfvae.cli import guard
# The config reads the likelihood registry, which loads TensorFlow: load it
# here with its C++ start-up lines kept off stderr, so a bad flag's message
# stays the one line a user sees.
# A multi-worker run (TF_CONFIG set) must create its strategy before the
# runtime starts, so its devices are not started here.
guard.import_tensorflow_quietly(
    start_devices="TF_CONFIG" not in os.environ)
# pylint: disable=wrong-import-position
from tfvae.cli.guard import fail  # pylint: disable=unused-import
from tfvae.cli.guard import flag_message  # pylint: disable=unused-import
from tfvae.cli.guard import import_tensorflow_quietly  # pylint: disable=unused-import
from tfvae.cli.guard import no_arguments  # pylint: disable=unused-import
from tfvae.cli.guard import parse  # pylint: disable=unused-import
from tfvae.cli.guard import run_guarded  # pylint: disable=unused-import
from tfvae.cli.guard import run_program  # pylint: disable=unused-import
from tfvae.config import ExperimentConfig
from tfvae.config import ignored
from tfvae.config.base import value_type
from tfvae.errors import ConfigError
from tfvae.evaluation.options import EvaluationOptions
from tfvae.evaluation.options import MetricSizes
from tfvae.evaluation.options import metric_selection

# Quiet library chatter: tfvae prints its own progress lines.
logging.set_verbosity(logging.WARNING)
warnings.filterwarnings("ignore", message=".*shuffle.*tf.data.Dataset.*")
# Quiet TensorFlow's C++ start-up chatter before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FLAGS = flags.FLAGS
# Flag name of each `MetricSizes` field.
METRIC_SIZE_FLAGS = {
    "num_train": "metric_num_train",
    "num_eval": "metric_num_eval",
    "num_variance_estimate": "metric_num_variance_estimate",
    "group_size": "metric_group_size",
    "batch_size": "metric_batch_size",
    "dci_n_estimators": "dci_n_estimators",
}


def _define(name, kind, default, help_text, flag_values):
  if kind is bool:
    flags.DEFINE_bool(name, default, help_text, flag_values=flag_values)
  elif kind is int:
    flags.DEFINE_integer(name, default, help_text, flag_values=flag_values)
  elif kind is float:
    flags.DEFINE_float(name, default, help_text, flag_values=flag_values)
  else:
    # Choices are checked by the config's `validate`, which names them all.
    flags.DEFINE_string(name, default, help_text, flag_values=flag_values)


def define_config_flags(exclude=(), flag_values=FLAGS):
  """Defines one flag per config setting (defaults from the dataclasses)."""
  for _, section in ExperimentConfig.sections():
    for field in dataclasses.fields(section):
      if field.name not in exclude:
        _define(field.name, value_type(section, field.name), field.default,
                field.metadata["help"], flag_values)


def typed_flags(argv=None):
  """The flag names typed on the command line (not those of flagfiles)."""
  names = set()
  for arg in (sys.argv if argv is None else argv)[1:]:
    if arg == "--":
      break
    if arg.startswith("-"):
      name = arg.lstrip("-").split("=", 1)[0]
      names.add(name[2:] if name.startswith("no") and "=" not in arg and
                name[2:] in FLAGS else name)
  return names


def config_from_flags(flag_values=FLAGS, typed=None, **overrides):
  """The validated `ExperimentConfig` the parsed flags describe.

  A flag typed on the command line (`typed`, default: read from sys.argv)
  that the run would ignore is refused, naming the setting that would make
  it count. Presets may set more than a variant uses (a preset's warm-up
  length with `--kl_schedule=constant` typed over it), so flagfiles are not
  checked.
  """
  names = ExperimentConfig.field_sections()
  values = {name: flag_values[name].value for name in names
            if name in flag_values}
  values.update(overrides)
  config = ExperimentConfig.from_flat(values).validate()
  typed = typed_flags() if typed is None else set(typed)
  unused = ignored.ignored(config, [name for name in names if name in typed])
  if unused:
    name, needs = unused[0]
    switch = re.split(r"[= ]", needs)[0]
    raise ConfigError(f"{name} is ignored unless {needs}; drop it",
                      params=(name, switch))
  return config


def define_evaluation_flags(names, flag_values=FLAGS):
  """Flags of the `EvaluationOptions` fields in `names` (`sizes`: the
  --metric_* flags of `MetricSizes`)."""
  for name in names:
    if name == "sizes":
      for field in dataclasses.fields(MetricSizes):
        _define(METRIC_SIZE_FLAGS[field.name], int, field.default,
                field.metadata["help"], flag_values)
      continue
    field = next(f for f in dataclasses.fields(EvaluationOptions)
                 if f.name == name)
    if name == "metrics":
      flags.DEFINE_list(name, [field.default], field.metadata["help"],
                        flag_values=flag_values)
    else:
      _define(name, value_type(EvaluationOptions, name), field.default,
              field.metadata["help"], flag_values)


def evaluation_options(names, flag_values=FLAGS):
  """The validated `EvaluationOptions` of the evaluation flags in `names`
  (as for `define_evaluation_flags`); the other options keep their
  defaults."""
  values = {}
  for name in names:
    if name == "sizes":
      values["sizes"] = MetricSizes(**{
          field: flag_values[flag].value
          for field, flag in METRIC_SIZE_FLAGS.items()})
    elif name == "metrics":
      values["metrics"] = metric_selection(flag_values.metrics)
    else:
      values[name] = flag_values[name].value
  return EvaluationOptions(**values).validate()
