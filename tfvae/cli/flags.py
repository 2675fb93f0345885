"""absl flags generated from the config dataclasses, and the CLI's error rules.

One flag per setting of `tfvae.config.ExperimentConfig` (the flat field name,
its type, default and help text from the field's declaration) and per
evaluation option (`tfvae.evaluation.options`); `config_from_flags` builds the
one config. Bad flags and flagfiles are reported by `parse` as one line with
exit status 2 (absl's own parser would print usage and exit 1); a library
error is printed by `run_guarded` as one line with the parameters it names
written as their `--flags`.
"""

import dataclasses
import os
import re
import sys
import warnings

from absl import flags
from absl import logging

from tfvae.config import ExperimentConfig
from tfvae.config import ignored
from tfvae.config.base import value_type
from tfvae.errors import ConfigError
from tfvae.errors import TfvaeError
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


def flag_message(error):
  """The error's message with the parameters it names written as --flags.

  Every `name=` is rewritten, and otherwise the first mention of the name.
  """
  message = str(error)
  for name in getattr(error, "params", ()):
    pattern = rf"(?<![\w-]){re.escape(name)}(?!\w)"
    message, count = re.subn(pattern + "(?==)", "--" + name, message)
    if not count:
      message = re.sub(pattern, "--" + name, message, count=1)
  return message


def fail(program, message, code=2):
  """One clear line on stderr and a non-zero exit."""
  sys.stderr.write(f"{program}: error: {message}\n")
  sys.exit(code)


def parse(argv):
  """absl flags parser that reports errors as one line (exit 2)."""
  program = os.path.basename(argv[0])
  try:
    return FLAGS(argv)
  except flags.Error as e:
    fail(program, str(e).splitlines()[0])
  except OSError as e:  # An unreadable --flagfile.
    fail(program, f"cannot read flagfile: {e}")


def no_arguments(program, argv):
  """Fails (exit 2) on positional arguments."""
  if len(argv) > 1:
    fail(program, f"unexpected arguments: {' '.join(argv[1:])}")


def import_tensorflow_quietly():
  """Imports TensorFlow with its C++ start-up lines kept off stderr.

  TF 2.21 logs through absl before logging is initialised, which
  TF_CPP_MIN_LOG_LEVEL does not silence; those lines (oneDNN, CUDA probing;
  TFP's import repeats them) would bury tfvae's own one-line messages. They are
  captured and shown only if the import fails (or always with
  TF_CPP_MIN_LOG_LEVEL=0 or 1). stderr is restored afterwards, so real
  warnings and errors still show. Python-side INFO logs (absl, e.g. one line
  per checkpoint save) are lowered to warnings unless --verbosity is given.
  """
  import logging as std_logging  # pylint: disable=import-outside-toplevel
  import tempfile  # pylint: disable=import-outside-toplevel
  quiet_python = "verbosity" in FLAGS and not FLAGS["verbosity"].present
  if quiet_python:
    logging.set_verbosity(logging.WARNING)
  # Keras notes that a tf.data input ignores fit(shuffle=...): ours is shuffled.
  warnings.filterwarnings("ignore", message=r"`shuffle=True` was passed")
  if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("0", "1"):
    import tensorflow  # pylint: disable=import-outside-toplevel,unused-import
    return
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      import tensorflow as tf  # pylint: disable=import-outside-toplevel
      # pylint: disable-next=import-outside-toplevel,unused-import
      import tensorflow_probability
      tf.config.list_physical_devices()  # Device start-up notices come here.
    except BaseException:
      os.dup2(saved, 2)
      captured.seek(0)
      sys.stderr.write(captured.read().decode(errors="replace"))
      raise
    finally:
      os.dup2(saved, 2)
      os.close(saved)
  if quiet_python:
    std_logging.getLogger("tensorflow").setLevel(std_logging.WARNING)


def run_guarded(program, fn):
  """Runs fn(); TfvaeError and Ctrl-C become one line and a non-zero exit."""
  try:
    return fn()
  except TfvaeError as e:
    fail(program, flag_message(e))
  except OSError as e:  # Disk full, read-only, permissions: not bad input.
    where = f" ({e.filename})" if e.filename else ""
    fail(program, f"{e.strerror or e}{where}", code=1)
  except KeyboardInterrupt:
    fail(program, "interrupted", code=130)


def run_program(main):
  """Runs `main(argv)` under absl with the one-line flag errors.

  The program's flags are listed by --helpshort as its own (absl lists only
  the flags defined in the main module there).
  """
  from absl import app  # pylint: disable=import-outside-toplevel
  for module, defined in list(FLAGS.flags_by_module_dict().items()):
    if module.startswith("tfvae."):
      for flag in defined:
        FLAGS.register_flag_by_module(sys.argv[0], flag)
  app.run(main, flags_parser=parse)
