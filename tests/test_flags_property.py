"""Property: any command line ends in a valid run config or one clean refusal.

Hypothesis draws random combinations of flags and values (valid choices,
neighbours of them, wrong types, out-of-range numbers, missing files) and
runs them through what `scripts/train.py` does before TensorFlow starts:
absl parsing (`tfvae.cli.flags.parse`), `config_from_flags` and
`tfvae.training.preflight.check`. Each must either succeed or raise a
`TfvaeError` (an absl flags.Error for unparsable values) whose message is one
line; anything else (a traceback the user would see) fails the property. A
preflight writes nothing, so the run directory must never exist afterwards.
Derandomized: the same examples on every run.
"""

import os

from absl import flags
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT
from tfvae.errors import TfvaeError
from tfvae.training import preflight

from tfvae.cli import flags as flagdefs  # pylint: disable=wrong-import-order

EXAMPLES = 250

NUMBERS = st.sampled_from(["0", "1", "2", "3", "-1", "8", "64", "1e-3",
                           "0.5", "1.5", "-0.1", "1e30", "nan", "inf", "abc",
                           "", "100000", "7.0"])
CHOICES = {
    "dataset": ["digits", "digitz", "npz:/nonexistent/x.npz", "images:",
                "images:/nonexistent", "dsprites_npz:/nonexistent.npz", "npz:",
                "tfds:", ""],
    "binarization": ["none", "static", "dynamic", "always"],
    "model": ["vae", "reference", "ae"],
    "reference_rec": ["l2", "bce", "l1"],
    "likelihood": ["gaussian", "bernoulli", "continuous_bernoulli", "laplace"],
    "sigma": ["learned", "learned_channel", "learned_pixel", "optimal", "0.5",
              "0", "-1", "x"],
    "rec_reduction": ["sum", "mean", "max"],
    "kl_reduction": ["sum", "mean", "none"],
    "kl_estimator": ["analytic", "monte_carlo", "mc"],
    "architecture": ["mlp", "conv", "resnet"],
    "kl_schedule": ["constant", "linear", "sigmoid", "cyclical", "cosine"],
    "kl_cycle_shape": ["linear", "sigmoid", "cosine", "square"],
    "balancer": ["none", "capacity", "geco", "controlvae", "pid"],
    "free_bits_mode": ["batch", "example", "dim"],
    "geco_target_units": ["per_pixel", "per_example", "per_dim"],
    "resume": ["auto", "true", "false", "maybe"],
    "strategy": ["default", "mirrored", "multi_worker", "tpu", "gpu"],
    "mixed_precision": ["none", "mixed_float16", "mixed_bfloat16", "fp8"],
    "overwrite": ["true", "false", "yes"],
    "jit_compile": ["true", "false"],
}
NUMERIC = ["validation_fraction", "max_examples", "beta", "beta_norm",
           "latent_dim", "hidden_units", "batch_size", "steps", "epochs",
           "learning_rate", "seed", "kl_warmup_steps", "kl_sigmoid_k",
           "kl_sigmoid_x0", "kl_cycles", "kl_cycle_ratio", "kl_start",
           "kl_stop", "free_bits", "capacity_gamma", "capacity_max",
           "capacity_steps", "geco_target", "geco_alpha", "geco_rate",
           "geco_lambda_init", "control_kl_target", "control_kp",
           "control_ki", "control_beta_min", "control_beta_max", "eval_every",
           "image_every", "checkpoint_every", "keep_checkpoints", "verbose",
           "steps_per_execution", "log_every"]


def _flag(name):
  values = st.sampled_from(CHOICES[name]) if name in CHOICES else NUMBERS
  return values.map(lambda value: f"--{name}={value}")


FLAG_LINES = st.lists(
    st.sampled_from(sorted(CHOICES) + NUMERIC + ["export_dir", "bogus_flag"]),
    min_size=0, max_size=8, unique=True).flatmap(
        lambda names: st.tuples(*[
            _flag(n) if n not in ("export_dir", "bogus_flag")
            else st.sampled_from([f"--{n}=EXPORTS", f"--{n}=/proc/x",
                                  f"--{n}="]) for n in names]))


def _check(argv, logdir):
  """What train.py does before TensorFlow: None on success, else the message."""
  values = flags.FlagValues()
  flagdefs.define_config_flags(flag_values=values)
  try:
    values(["train.py", *argv, f"--logdir={logdir}"])
  except flags.Error as e:
    return str(e).splitlines()[0]  # What `flagdefs.parse` prints.
  try:
    config = flagdefs.config_from_flags(flag_values=values)
    preflight.check(config)
  except TfvaeError as e:
    return str(e)
  return None


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None,
          database=None, suppress_health_check=list(HealthCheck))
@given(argv=FLAG_LINES)
def test_any_flags_end_in_success_or_one_clean_line(tmp_path_factory, argv):
  base = tmp_path_factory.mktemp("flags", numbered=True)
  logdir = base / "run"
  argv = [a.replace("EXPORTS", str(base / "exports")) for a in argv]
  message = _check(argv, logdir)
  if message is not None:
    assert message.strip() and "\n" not in message, (argv, message)
    assert "Traceback" not in message
  assert not os.path.exists(logdir), argv  # Preflight writes nothing.
  assert not os.path.exists(base / "exports"), argv
