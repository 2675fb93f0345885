"""DIP-VAE-I and -II: push the aggregate posterior's covariance to the identity.

Kumar et al. 2018 ("Variational Inference of Disentangled Latent Concepts from
Unlabeled Observations", eqs. 6-7) add to the VAE loss a penalty on a
covariance matrix C of the latents over the data:

    P(C) = lambda_od sum_{i != j} C_ij^2 + lambda_d sum_i (C_ii - 1)^2

- DIP-VAE-I:  C = Cov_p(x)[mu(x)], the covariance of the posterior means;
- DIP-VAE-II: C = E_p(x)[diag sigma^2(x)] + Cov_p(x)[mu(x)] = Cov_q(z)[z],
  the covariance of the aggregate posterior.

Both are estimated on the batch, Cov[mu] = mean_b mu_b mu_b^T - mean_b mu_b
mean_b mu_b^T (the biased, 1/B form, as disentanglement_lib). Per example, in
the `Weighting` convention:

    loss = mean_i [rec_i + w kl_i] + P(C) / J_r

with w the `Weighting`'s KL weight (`terms.kl_weight`) and the penalty divided
by J_r like every term beside the KL, so that with sums (the default) it is
the paper's loss and its weights keep their meaning relative to the KL under
other reductions. P is a batch-level term: C is computed on the global batch
(an all-reduce under tf.distribute, as free bits' batch mode) and the penalty
goes to `extra_loss` divided by the number of replicas.

Defaults (disentanglement_lib's `DIPVAE`: lambda_d = lambda_d_factor
lambda_od, with the factor 10 for DIP-VAE-I and 1 for DIP-VAE-II; its sweep of
lambda_od is {1, 2, 5, 10, 20, 50}): lambda_od = 10, lambda_d = 100 (I) or 10
(II).

beta_eff = w K_r / J_r, the weight on the KL (the penalty is not a KL and is
not counted in it). Kumar et al. write the objective with the closed-form
KL of the Gaussian posteriors, whose parameters the penalty also acts on; a
one-sample Monte Carlo KL only adds noise to the term the penalty is balanced
against, so the configuration refuses the combination.
"""

import dataclasses
from typing import Optional

import tensorflow as tf

from tfvae.balancing.base import Balanced, Balancer, Terms, register
from tfvae.balancing.beta_tcvae import check_weight
from tfvae.errors import ConfigError
from tfvae.objectives import elbo
from tfvae.settings import non_negative_finite
from tfvae.settings import option

DEFAULT_LAMBDA_OD = 10.0
LAMBDA_D_FACTOR = {"i": 10.0, "ii": 1.0}


def batch_covariance(values):
  """[J, J] biased covariance over the (global) batch of [B, J] values."""
  mean = elbo.global_batch_mean(values, axis=0)
  second = elbo.global_batch_mean(
      tf.reshape(values[:, :, None] * values[:, None, :],
                 [tf.shape(values)[0], -1]), axis=0)
  dim = tf.shape(values)[1]
  return tf.reshape(second, [dim, dim]) - mean[:, None] * mean[None, :]


def dip_covariance(z_mean, z_log_variance, variant):
  """C of DIP-VAE-I (Cov[mu]) or -II (E[diag sigma^2] + Cov[mu])."""
  covariance = batch_covariance(z_mean)
  if variant == "ii":
    covariance += tf.linalg.diag(
        elbo.global_batch_mean(tf.exp(z_log_variance), axis=0))
  return covariance


def dip_penalty_parts(covariance):
  """(sum_{i != j} C_ij^2, sum_i (C_ii - 1)^2)."""
  diagonal = tf.linalg.diag_part(covariance)
  off_diagonal = covariance - tf.linalg.diag(diagonal)
  return (tf.reduce_sum(tf.square(off_diagonal)),
          tf.reduce_sum(tf.square(diagonal - 1.0)))


@dataclasses.dataclass
class DIPVAESettings:
  """The command-line settings of both variants."""

  dip_lambda_od: float = option(DEFAULT_LAMBDA_OD, "DIP-VAE: weight on the "
                                "squared off-diagonal covariance entries "
                                "(default 10).")
  dip_lambda_d: Optional[float] = option(
      None, "DIP-VAE: weight on the squared diagonal deviations from 1 "
      "(default: 10 x --dip_lambda_od for dip_vae_i, --dip_lambda_od for "
      "dip_vae_ii, as disentanglement_lib).")


class _DIPVAE(Balancer):
  """Shared code of the two variants (see the module docstring)."""

  variant = ""
  scalar_names = ("dip_off_diagonal", "dip_diagonal", "dip_penalty")
  Settings = DIPVAESettings
  weights_kl_parts = True
  citation = "Kumar et al."
  weight_settings = ("dip_lambda_od",)

  def __init__(self, lambda_od=DEFAULT_LAMBDA_OD, lambda_d=None, **kwargs):
    super().__init__(**kwargs)
    self.lambda_od = check_weight("lambda_od", lambda_od)
    if lambda_d is None:
      lambda_d = LAMBDA_D_FACTOR[self.variant] * self.lambda_od
    self.lambda_d = check_weight("lambda_d", lambda_d)

  @classmethod
  def from_config_section(cls, section, context):
    return cls(section.dip_lambda_od, section.dip_lambda_d)

  @classmethod
  def check_settings(cls, section):
    super().check_settings(section)
    for name in ("dip_lambda_od", "dip_lambda_d"):
      non_negative_finite(name, getattr(section, name))

  @classmethod
  def check_config(cls, config):
    if config.model.kl_estimator == "monte_carlo":
      raise ConfigError(f"balancer={cls.registry_name} needs the closed-form "
                        "KL (its penalty acts on the posterior parameters); "
                        "drop kl_estimator=monte_carlo",
                        params=("balancer", "kl_estimator"))

  def balance(self, terms: Terms, step, training) -> Balanced:
    del step, training  # Stateless.
    covariance = dip_covariance(terms.z_mean, terms.z_log_variance,
                                self.variant)
    off_diagonal, diagonal = dip_penalty_parts(covariance)
    penalty = self.lambda_od * off_diagonal + self.lambda_d * diagonal
    weight = tf.cast(terms.kl_weight, terms.kl.dtype)
    return Balanced(
        per_example=terms.rec + weight * terms.kl,
        kl_weight=weight,
        beta_eff=weight * terms.rec_divisor / terms.kl_divisor,
        extra_loss=penalty / terms.kl_divisor / elbo.num_replicas(),
        scalars={"dip_off_diagonal": off_diagonal, "dip_diagonal": diagonal,
                 "dip_penalty": penalty})

  def get_config(self):
    return {**super().get_config(), "lambda_od": self.lambda_od, "lambda_d": self.lambda_d}


@register("dip_vae_i")
class DIPVAEI(_DIPVAE):
  """DIP-VAE-I: the penalty on Cov[mu(x)] (lambda_d = 10 lambda_od by default).

  Args:
    lambda_od: weight on the squared off-diagonal entries (default 10).
    lambda_d: weight on the squared diagonal deviations from 1 (default
      10 lambda_od).
  """

  variant = "i"
  label = "DIP-VAE-I"


@register("dip_vae_ii")
class DIPVAEII(_DIPVAE):
  """DIP-VAE-II: the penalty on E[diag sigma^2] + Cov[mu] (lambda_d = lambda_od).

  Args:
    lambda_od: weight on the squared off-diagonal entries (default 10).
    lambda_d: weight on the squared diagonal deviations from 1 (default
      lambda_od).
  """

  variant = "ii"
  label = "DIP-VAE-II"
