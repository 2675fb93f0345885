"""How every tfvae program fails: one line, a non-zero exit, no traceback.

Bad flags and flagfiles are reported by `parse` as one line with exit status
2 (absl's own parser would print usage and exit 1); a library error is
printed by `run_guarded` as one line with the parameters it names written as
their `--flags`. Plain Python: the translator (`tfvae-weighting`) uses it
without loading the config's likelihood registry or TensorFlow.
"""

import os
import re
import sys
import warnings

from absl import flags
from absl import logging

from tfvae.errors import TfvaeError

FLAGS = flags.FLAGS
# Quiet TensorFlow's C++ start-up chatter before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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


def import_tensorflow_quietly(start_devices=True):
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
      if start_devices:
        # Device start-up notices come here. Not at module import: a
        # multi-worker strategy must be created before the runtime starts.
        tf.config.list_physical_devices()
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
