"""timbmg/Sentence-VAE (PyTorch; Bowman et al. 2016's sentence VAE), `train.py`.

Its loss over a batch of B sentences (references §13):

    NLL_loss = NLLLoss(ignore_index=pad_idx, reduction="sum")  over all tokens
    KL_loss  = -0.5 sum(1 + logv - mean^2 - exp(logv))         over the batch
    loss     = (NLL_loss + KL_weight * KL_loss) / B

a categorical (softmax) NLL summed over the real tokens, padding left out,
and the summed KL, both averaged over the batch: the ELBO with
beta_eff = KL_weight. The weight is annealed, `kl_anneal_function`:

    logistic: w(step) = 1 / (1 + exp(-k (step - x0)))     (k = 0.0025, x0 = 2500)
    linear:   w(step) = min(1, step / x0)

with `step` the number of optimiser steps taken before the batch. tfvae's
schedules (`tfvae.balancing.schedules`) are the same functions of
`optimizer.iterations`, the same count: `--kl_schedule=sigmoid
--kl_start=0 --kl_sigmoid_k=k --kl_sigmoid_x0=x0` and `--kl_schedule=linear
--kl_start=0 --kl_warmup_steps=x0` give Sentence-VAE's weight at every
step, with `--beta=1` the weight both reach. `--model=sequence
--likelihood=categorical --mask_value=pad_idx` is its teacher-forced
decoder and masked NLL.
"""

from tfvae.conventions import _common
from tfvae.conventions.convention import Convention
from tfvae.errors import ConfigError

PEER = "sentence_vae"
VERSION = "timbmg/Sentence-VAE (master)"
SOURCE = "train.py"
ANNEAL_FUNCTIONS = ("logistic", "linear")
DEFAULT_K = 0.0025
DEFAULT_X0 = 2500
DEFAULT_MAX_SEQUENCE_LENGTH = 60
DEFAULT_LATENT_SIZE = 16
# Sentence-VAE's vocabulary puts <pad> first (ptb.py: w2i['<pad>'] = 0).
DEFAULT_PAD_IDX = 0


def _schedule_flags(anneal_function, k, x0):
  """tfvae's KL schedule that computes Sentence-VAE's weight."""
  if anneal_function == "logistic":
    return (("kl_schedule", "sigmoid"), ("kl_start", "0"),
            ("kl_warmup_steps", str(int(2 * x0))),
            ("kl_sigmoid_k", f"{k:g}"), ("kl_sigmoid_x0", f"{x0:g}"))
  return (("kl_schedule", "linear"), ("kl_start", "0"),
          ("kl_warmup_steps", str(int(x0))))


def weight_at(step, anneal_function="logistic", k=DEFAULT_K, x0=DEFAULT_X0):
  """Sentence-VAE's KL weight at `step`, by tfvae's schedule functions."""
  # pylint: disable=import-outside-toplevel
  # The schedules load TensorFlow: only a weight at a step needs them.
  from tfvae.balancing import schedules
  if anneal_function == "logistic":
    weight = schedules.sigmoid(step, 2 * x0, start=0.0, stop=1.0, k=k, x0=x0)
  else:
    weight = schedules.linear(step, x0, start=0.0, stop=1.0)
  return float(weight)


def read(anneal_function="logistic", k=DEFAULT_K, x0=DEFAULT_X0, step=None,
         max_sequence_length=DEFAULT_MAX_SEQUENCE_LENGTH,
         latent_dim=DEFAULT_LATENT_SIZE, pad_idx=DEFAULT_PAD_IDX):
  """Sentence-VAE's weighting.

  Args:
    anneal_function: its `-af` ("logistic" or "linear").
    k, x0: its `-k` and `-x0`.
    step: None for the annealed objective (the weight the schedule reaches,
      1, with tfvae's schedule flags that follow Sentence-VAE's at every
      step); a step number for the objective at that step (a constant
      weight w(step)).
    max_sequence_length: its `--max_sequence_length` (the tokens per
      sentence, K).
    latent_dim: its `--latent_size` (J).
    pad_idx: the padding id its NLL ignores.
  """
  _common.choice("anneal_function", anneal_function, ANNEAL_FUNCTIONS)
  k = _common.number("k", k)
  x0 = _common.number("x0", x0)
  if not k or not x0:
    raise ConfigError("k and x0 must be > 0")
  if isinstance(max_sequence_length, int):
    max_sequence_length = (max_sequence_length,)
  length = _common.parse_shape(max_sequence_length, "max_sequence_length")
  settings = (("mask_value", str(int(pad_idx))),)
  formula = ("(NLL_sum over real tokens + KL_weight * KL_sum) / batch, "
             + ("KL_weight = 1 / (1 + exp(-k (step - x0)))"
                if anneal_function == "logistic" else
                "KL_weight = min(1, step / x0)"))
  common = dict(likelihood="categorical", likelihood_settings=settings,
                model="sequence", name=PEER, formula=formula,
                weight_name="KL_weight")
  if step is None:
    return Convention(
        "nll", length, int(latent_dim), weight=1.0,
        schedule=_schedule_flags(anneal_function, k, x0),
        label=f"Sentence-VAE, {anneal_function} annealing (k={k:g}, "
        f"x0={x0:g}) to KL_weight 1",
        notes=("the weight is annealed: the tfvae flags schedule it "
               "exactly (the same function of the optimiser step)",),
        **common)
  step = _common.number("step", step)
  return Convention(
      "nll", length, int(latent_dim),
      weight=weight_at(step, anneal_function, k, x0),
      label=f"Sentence-VAE at step {step:g} of {anneal_function} annealing "
      f"(k={k:g}, x0={x0:g})", **common)


def targets(event_shape, latent_dim):
  """None: Sentence-VAE always anneals its weight to 1; read it instead."""
  del event_shape, latent_dim
  return []
