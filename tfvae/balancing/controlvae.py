"""ControlVAE (Shao et al. 2020, ICML): a PI controller holds the KL at a set point.

beta(t) from `tfvae.balancing.controllers.controlvae_update` on the current
batch's mean summed KL (nats), then loss = rec + beta(t) kl as written.
Effective beta: beta(t) K_r / J_r.
"""

import dataclasses
from typing import Optional

import tensorflow as tf

from tfvae.balancing import controllers
from tfvae.balancing.base import Balanced
from tfvae.balancing.base import Balancer
from tfvae.balancing.base import register
from tfvae.errors import ConfigError
from tfvae.objectives import balanced
from tfvae.objectives import elbo
from tfvae.settings import option


@dataclasses.dataclass
class ControlVAESettings:
  """ControlVAE's command-line settings."""

  control_kl_target: Optional[float] = option(
      None, "ControlVAE: set point of the current batch's mean KL (nats, "
      "summed over latents).")
  control_kp: float = option(0.01, "ControlVAE: proportional gain Kp.")
  control_ki: float = option(0.0001, "ControlVAE: integral gain Ki.")
  control_beta_min: float = option(0.0, "ControlVAE: lower bound of beta.")
  control_beta_max: float = option(1.0, "ControlVAE: upper bound of beta.")


@register("controlvae")
class ControlVAE(Balancer):
  """Args: kl_target >= 0 nats (summed KL), kp, ki >= 0,
  0 <= beta_min <= beta_max."""

  scalar_names = ("controlvae_beta", "controlvae_integral", "controlvae_p")
  Settings = ControlVAESettings
  sets_weight = True
  label = "ControlVAE"
  citation = "Shao et al."
  weight_settings = ("control_kl_target",)

  def __init__(self, kl_target, kp=0.01, ki=0.0001, beta_min=0.0,
               beta_max=1.0, name="balancer", **kwargs):
    super().__init__(name=name, **kwargs)
    if kl_target is None or not kl_target >= 0:
      raise ValueError(f"kl_target must be >= 0 nats, got {kl_target!r}")
    if kp < 0 or ki < 0:
      raise ValueError("kp and ki must be >= 0")
    if not 0 <= beta_min <= beta_max:
      raise ValueError("need 0 <= beta_min <= beta_max, got "
                       f"{beta_min!r}, {beta_max!r}")
    self.kl_target = float(kl_target)
    self.kp, self.ki = kp, ki
    self.beta_min, self.beta_max = beta_min, beta_max
    self.integral = self._state("controlvae_integral")
    self.beta = self._state("controlvae_beta", beta_min)
    self.unclipped_beta = self._state("controlvae_unclipped", beta_min)

  def get_config(self):
    return {**super().get_config(), "kl_target": self.kl_target,
            "kp": self.kp, "ki": self.ki, "beta_min": self.beta_min,
            "beta_max": self.beta_max}

  @classmethod
  def from_config_section(cls, section, context):
    return cls(section.control_kl_target, section.control_kp,
               section.control_ki, section.control_beta_min,
               section.control_beta_max)

  @classmethod
  def check_settings(cls, section):
    super().check_settings(section)
    if section.control_kl_target is None or section.control_kl_target < 0:
      raise ConfigError("balancer=controlvae needs control_kl_target >= 0 "
                        "(nats, summed over latent dimensions)",
                        params=("balancer", "control_kl_target"))
    if section.control_kp < 0 or section.control_ki < 0:
      raise ConfigError("control_kp and control_ki must be >= 0",
                        params=("control_kp", "control_ki"))
    if not 0 <= section.control_beta_min <= section.control_beta_max:
      raise ConfigError("need 0 <= control_beta_min <= control_beta_max",
                        params=("control_beta_min", "control_beta_max"))

  def balance(self, terms, step, training):
    batch_rate = elbo.global_batch_mean(terms.rate)
    beta, new_integral, unclipped = controllers.controlvae_update(
        batch_rate, self.kl_target, self.integral, self.unclipped_beta,
        kp=self.kp, ki=self.ki, beta_min=self.beta_min,
        beta_max=self.beta_max)
    beta = tf.stop_gradient(beta)
    per_example, kl_coef, nll_coef = balanced.weighted_loss(
        terms.rec, terms.kl, beta, terms.rec_divisor, terms.kl_divisor)
    return Balanced(
        per_example=per_example, kl_weight=beta, beta_eff=kl_coef / nll_coef,
        scalars={"controlvae_beta": beta,
                 "controlvae_integral": new_integral,
                 "controlvae_p": unclipped - new_integral - self.beta_min},
        updates=[(self.integral, new_integral), (self.beta, beta),
                 (self.unclipped_beta, unclipped)])
