"""absl flag definitions shared by tfvae's scripts, and their conversion to a Config.

Every flag mirrors one field of `tfvae.config.Config`; `config_from_flags`
builds that one object. Bad flags and flagfiles are reported by `parse` as one
line with exit status 2 (absl's own parser would print usage and exit 1).
"""

import dataclasses
import os
import sys
import typing
import warnings

from absl import flags
from absl import logging

# Quiet library chatter: tfvae prints its own progress lines.
logging.set_verbosity(logging.WARNING)
warnings.filterwarnings("ignore", message=".*shuffle.*tf.data.Dataset.*")

# Quiet TensorFlow's C++ start-up chatter before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfvae import config as config_lib  # pylint: disable=wrong-import-position
from tfvae.errors import TfvaeError  # pylint: disable=wrong-import-position

FLAGS = flags.FLAGS

HELP = {
    "dataset": "digits (default, offline), dsprites (procedural, offline), "
               "npz:PATH, images:DIR, tfds:NAME[:SPLIT] (needs network), "
               "dsprites_npz:PATH (the original dSprites file).",
    "binarization": "none | static (sample once) | dynamic (resample each batch).",
    "validation_fraction": "Fraction held out for validation (when the data set "
                           "has no test split).",
    "max_examples": "Use only the first N examples (quick experiments).",
    "model": "vae (the general, switchable VAE) | reference (the question's "
             "loss, line for line).",
    "reference_rec": "Reconstruction of --model=reference: l2 (summed squared "
                     "error) | bce (clipped, summed).",
    "likelihood": "Decoder distribution: bernoulli | continuous_bernoulli | "
                  "gaussian.",
    "sigma": "Gaussian sigma: a number (fixed; 0.7071 = the question's L2), "
             "learned | learned_channel | learned_pixel | optimal.",
    "rec_reduction": "sum | mean of the reconstruction NLL over features.",
    "kl_reduction": "sum | mean of the KL over latent dimensions.",
    "beta": "KL weight as written on the reduced KL term (default 1).",
    "beta_norm": "Normalised KL weight of Higgins et al.: beta_eff * J / K. "
                 "Exclusive with --beta.",
    "kl_estimator": "analytic (closed form) | monte_carlo (one sample).",
    "architecture": "mlp | conv (8x8, 28x28, 32x32, 64x64 inputs).",
    "latent_dim": "Number of latent dimensions J.",
    "hidden_units": "Width of the mlp's hidden layers.",
    "batch_size": "Global batch size.",
    "steps": "Optimiser steps to train (default 2000). Exclusive with --epochs.",
    "epochs": "Passes over the training set. Exclusive with --steps.",
    "learning_rate": "Adam learning rate.",
    "seed": "Seed of data order, initialisation and posterior noise.",
    "kl_schedule": "constant | linear | sigmoid | cyclical warm-up of the KL "
                   "weight (Keras callback on the global step).",
    "kl_warmup_steps": "T: warm-up length (linear, sigmoid) or total length "
                       "of all cycles (cyclical).",
    "kl_sigmoid_k": "Sigmoid slope k (default 10/T).",
    "kl_sigmoid_x0": "Sigmoid midpoint x0 (default T/2).",
    "kl_cycles": "Number of cycles M of the cyclical schedule.",
    "kl_cycle_ratio": "Fraction R of each cycle spent ramping.",
    "kl_cycle_shape": "Ramp shape of the cyclical schedule: linear | sigmoid | "
                      "cosine.",
    "kl_start": "Schedule start value.",
    "kl_stop": "Schedule stop value (default: the resolved --beta/--beta_norm).",
    "free_bits": "Free bits lambda in nats per latent dimension (0 = off).",
    "free_bits_mode": "batch (Kingma et al.: clamp the batch-mean KL per "
                      "dimension) | example (clamp per example and dimension).",
    "balancer": "none | capacity (Burgess et al.) | geco (Rezende & Viola) | "
                "controlvae (Shao et al.).",
    "capacity_gamma": "Capacity: gamma on |KL - C| (Burgess et al.: 1000 "
                      "for 64x64 images; scale it with the pixel count).",
    "capacity_max": "Capacity: C_max in nats (summed KL).",
    "capacity_steps": "Capacity: steps for C to reach C_max.",
    "geco_target": "GECO: kappa, the tolerated reconstruction error "
                   "-log p(x|z) in nats PER PIXEL (NLL summed over the K "
                   "features / K; the default units) or PER EXAMPLE (summed "
                   "NLL) as --geco_target_units says.",
    "geco_target_units": "Units of --geco_target: per_pixel (nats per "
                         "feature) | per_example (nats per example).",
    "geco_alpha": "GECO: moving-average decay of the constraint.",
    "geco_rate": "GECO: multiplier update rate nu.",
    "geco_lambda_init": "GECO: initial Lagrange multiplier (1 in the paper; "
                        "with per_pixel units K starts at the ELBO).",
    "control_kl_target": "ControlVAE: set point of the current batch's "
                         "mean KL (nats, summed over latents).",
    "control_kp": "ControlVAE: proportional gain Kp.",
    "control_ki": "ControlVAE: integral gain Ki.",
    "control_beta_min": "ControlVAE: lower bound of beta.",
    "control_beta_max": "ControlVAE: upper bound of beta.",
    "logdir": "Run directory (config, checkpoints, TensorBoard events).",
    "eval_every": "Evaluate the validation set every N steps.",
    "image_every": "Write images every N steps (0: at every evaluation).",
    "checkpoint_every": "Save a checkpoint every N steps (and at the end).",
    "keep_checkpoints": "Checkpoints to keep.",
    "resume": "auto (resume a run of the same config) | true | false.",
    "overwrite": "Replace an existing run in --logdir.",
    "export_dir": "After training, export a versioned SavedModel under "
                  "EXPORT_DIR/<version>/.",
    "verbose": "Keras fit verbosity (0 silent, 1 progress bar, 2 one line per "
               "evaluation interval).",
    "strategy": "default | mirrored | multi_worker (reads TF_CONFIG) | tpu.",
    "tpu": "TPU address for --strategy=tpu.",
    "mixed_precision": "none | mixed_float16 | mixed_bfloat16 | auto "
                       "(bfloat16 on a CPU with AVX512-BF16/AMX or a GPU of "
                       "compute capability >= 8.0, else float32). Likelihood "
                       "math stays float32.",
    "jit_compile": "Compile the train step with XLA (off by default: slower "
                   "on CPU, see docs/performance.md; try it on a GPU).",
    "steps_per_execution": "Train steps per tf.function call; 0 = auto (50; "
                           "KL schedules stay exact per step). Reduced to "
                           "divide --eval_every, --checkpoint_every and the "
                           "steps to run; every step is still logged and "
                           "checked.",
    "log_every": "Write the per-step training scalars to TensorBoard every N "
                 "steps (validation is logged every --eval_every steps).",
}


def _base_type(field):
  hint = typing.get_type_hints(config_lib.Config)[field.name]
  args = [a for a in typing.get_args(hint) if a is not type(None)]
  return args[0] if args else hint


def define_config_flags(exclude=(), flag_values=FLAGS):
  """Defines one flag per Config field (defaults from the dataclass)."""
  for field in dataclasses.fields(config_lib.Config):
    if field.name in exclude:
      continue
    kind = _base_type(field)
    default = field.default
    help_text = HELP.get(field.name, field.name)
    if kind is bool:
      flags.DEFINE_bool(field.name, default, help_text, flag_values=flag_values)
    elif kind is int:
      flags.DEFINE_integer(field.name, default, help_text,
                           flag_values=flag_values)
    elif kind is float:
      flags.DEFINE_float(field.name, default, help_text,
                         flag_values=flag_values)
    else:
      flags.DEFINE_string(field.name, default, help_text,
                          flag_values=flag_values)


def config_from_flags(flag_values=FLAGS, **overrides):
  """The Config the parsed flags describe, validated."""
  values = {}
  for field in dataclasses.fields(config_lib.Config):
    if field.name in flag_values:
      values[field.name] = flag_values[field.name].value
  values.update(overrides)
  return config_lib.Config(**values).validate()


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
  import warnings  # pylint: disable=import-outside-toplevel
  from absl import logging  # pylint: disable=import-outside-toplevel
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
    fail(program, str(e))
  except KeyboardInterrupt:
    fail(program, "interrupted", code=130)

