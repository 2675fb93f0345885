"""beta-TCVAE: separate weights on the three parts of the KL.

Chen et al. 2018 ("Isolating Sources of Disentanglement in Variational
Autoencoders", eq. 4) weight the parts of the rate (`tfvae.objectives.
decomposition`) separately. Per example i, in the `Weighting` convention
(`rec_i = D_i / K_r`, KL-like terms divided by J_r):

    loss_i = rec_i + w [alpha MI_i + beta TC_i + gamma dimKL_i] / J_r

with MI_i, TC_i, dimKL_i the per-example estimates from the batch's samples
z_i ~ q(z|x_i) with the data set size N (minibatch stratified sampling by
default, Chen et al. App. C.2), and w the `Weighting`'s KL weight (`terms.
kl_weight`; 1 unless --beta or a --kl_schedule sets it, so a warm-up scales
all three parts together).

Defaults: alpha = gamma = 1 (the paper's, and disentanglement_lib's
`BetaTCVAE`, which adds (beta - 1) TC to the analytic KL); beta = 6, the
middle of disentanglement_lib's sweep {1, 2, 4, 6, 8, 10} (Chen et al. sweep
beta over 1..10 on dSprites).

With alpha = beta = gamma = 1 the three parts add up to log q(z_i|x_i) -
log p(z_i), so the loss is the plain VAE loss with the one-sample Monte Carlo
KL of the same samples, whatever the estimator.

beta_eff: when alpha = beta = gamma = c it is w c K_r / J_r, the weight on the
summed KL per unit of summed NLL. When they differ the loss has no single
weight on the KL; `beta_eff` is then the batch's weighted penalty per nat of
its (Monte Carlo) KL, w K_r / J_r (alpha MI + beta TC + gamma dimKL) / (MI +
TC + dimKL), which varies from batch to batch (0 when the KL is 0).

The estimates use the replica-local batch (M = the batch on this replica);
the loss is written per example, so `average_over_batch` gives the right
gradient under tf.distribute for equal shards.
"""

import dataclasses
import math
import numbers
from typing import Literal

import tensorflow as tf

from tfvae.balancing.base import Balanced, Balancer, Terms, register
from tfvae.objectives import decomposition
from tfvae.settings import non_negative_finite
from tfvae.settings import option

DEFAULT_ALPHA = 1.0
DEFAULT_BETA = 6.0
DEFAULT_GAMMA = 1.0


def check_weight(name, value):
  """A finite number >= 0, or ValueError naming `name`."""
  if (isinstance(value, bool) or not isinstance(value, numbers.Real) or
      not math.isfinite(value) or value < 0):
    raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
  return float(value)


@dataclasses.dataclass
class BetaTCVAESettings:
  """beta-TCVAE's command-line settings."""

  tc_alpha: float = option(DEFAULT_ALPHA, "beta-TCVAE: weight on the "
                           "index-code mutual information (Chen et al.: 1).")
  tc_beta: float = option(DEFAULT_BETA, "beta-TCVAE: weight on the total "
                          "correlation (default 6, the middle of "
                          "disentanglement_lib's sweep 1..10).")
  tc_gamma: float = option(DEFAULT_GAMMA, "beta-TCVAE: weight on the "
                           "dimension-wise KL (Chen et al.: 1).")
  tc_estimator: Literal["mss", "mws"] = option(
      "mss", "beta-TCVAE: estimator of log q(z): mss (minibatch stratified "
      "sampling, Chen et al. App. C.2) | mws (minibatch weighted sampling).",
      decomposition.ESTIMATORS)


@register("beta_tcvae")
class BetaTCVAE(Balancer):
  """loss = rec + w (alpha MI + beta TC + gamma dimKL) / J_r (Chen et al. 2018).

  Args:
    dataset_size: N, the training set size the estimator's q(z) averages over.
    alpha: weight on the index-code mutual information (paper: 1).
    beta: weight on the total correlation (default 6).
    gamma: weight on the dimension-wise KL (paper: 1).
    estimator: "mss" (minibatch stratified sampling, default) or "mws".
  """

  scalar_names = ("tcvae_mi", "tcvae_tc", "tcvae_dimwise_kl")
  Settings = BetaTCVAESettings
  weights_kl_parts = True
  label = "beta-TCVAE"
  citation = "Chen et al."
  weight_settings = ("tc_beta",)

  def __init__(self, dataset_size, alpha=DEFAULT_ALPHA, beta=DEFAULT_BETA,
               gamma=DEFAULT_GAMMA, estimator="mss", **kwargs):
    super().__init__(**kwargs)
    if (isinstance(dataset_size, bool) or not isinstance(dataset_size, int)
        or dataset_size < 2):
      raise ValueError(f"dataset_size must be an integer >= 2, got "
                       f"{dataset_size!r}")
    if estimator not in decomposition.ESTIMATORS:
      raise ValueError(f"estimator must be one of "
                       f"{', '.join(decomposition.ESTIMATORS)}, got "
                       f"{estimator!r}")
    self.dataset_size = dataset_size
    self.alpha = check_weight("alpha", alpha)
    self.beta = check_weight("beta", beta)
    self.gamma = check_weight("gamma", gamma)
    self.estimator = estimator

  @classmethod
  def from_config_section(cls, section, context):
    return cls(int(context.dataset_size), alpha=section.tc_alpha,
               beta=section.tc_beta, gamma=section.tc_gamma,
               estimator=section.tc_estimator)

  @classmethod
  def check_settings(cls, section):
    super().check_settings(section)
    for name in ("tc_alpha", "tc_beta", "tc_gamma"):
      non_negative_finite(name, getattr(section, name))

  def balance(self, terms: Terms, step, training) -> Balanced:
    del step, training  # Stateless.
    parts = decomposition.decompose_per_example(
        terms.z, terms.z_mean, terms.z_log_variance, self.dataset_size,
        self.estimator)
    mi = parts["index_code_mi"]
    tc = parts["total_correlation"]
    dimwise = parts["dimwise_kl"]
    weight = tf.cast(terms.kl_weight, mi.dtype)
    penalty = self.alpha * mi + self.beta * tc + self.gamma * dimwise
    per_example = terms.rec + weight * penalty / terms.kl_divisor
    scale = weight * terms.rec_divisor / terms.kl_divisor
    if self.alpha == self.beta == self.gamma:
      beta_eff = scale * self.alpha
    else:
      kl_sum = tf.stop_gradient(tf.reduce_sum(mi + tc + dimwise))
      beta_eff = scale * tf.math.divide_no_nan(
          tf.stop_gradient(tf.reduce_sum(penalty)), kl_sum)
    beta_eff = tf.convert_to_tensor(beta_eff, mi.dtype)
    return Balanced(
        per_example=per_example,
        kl_weight=beta_eff * terms.kl_divisor / terms.rec_divisor,
        beta_eff=beta_eff,
        scalars={"tcvae_mi": tf.reduce_mean(mi),
                 "tcvae_tc": tf.reduce_mean(tc),
                 "tcvae_dimwise_kl": tf.reduce_mean(dimwise)})

  def get_config(self):
    return {**super().get_config(), "dataset_size": self.dataset_size, "alpha": self.alpha,
            "beta": self.beta, "gamma": self.gamma,
            "estimator": self.estimator}
