"""Capacity (Burgess et al. 2018, "Understanding disentangling in beta-VAE").

    loss = rec + gamma |E[R] - C(t)|,   C(t) = min(C_max, C_max t / T)  (nats)

on the summed KL R, per example gamma sign(E[R] - C) (R_i - C) (same value and
gradient, see `tfvae.objectives.balanced.capacity_loss`). The KL reduction of
the `Weighting` does not apply: the target is in nats of summed KL.
Effective beta: gamma sign(E[R] - C) K_r (the constraint's pull).
"""

import tensorflow as tf

from tfvae.balancing import schedules
from tfvae.balancing.base import Balanced
from tfvae.balancing.base import Balancer
from tfvae.balancing.base import register
from tfvae.objectives import balanced
from tfvae.objectives import elbo


# Burgess et al. 2018's dSprites setting (gamma for 64x64 images).
DEFAULT_GAMMA = 1000.0
DEFAULT_MAX = 25.0
DEFAULT_STEPS = 100000


@register("capacity")
class Capacity(Balancer):
  """Args: gamma > 0, capacity_max >= 0 nats, capacity_steps T >= 0."""

  scalar_names = ("capacity",)

  def __init__(self, gamma=DEFAULT_GAMMA, capacity_max=DEFAULT_MAX,
               capacity_steps=DEFAULT_STEPS, name="balancer", **kwargs):
    super().__init__(name=name, **kwargs)
    if not gamma > 0:
      raise ValueError(f"gamma must be > 0, got {gamma!r}")
    schedules.capacity(0, capacity_max, capacity_steps)  # checks the values
    self.gamma = float(gamma)
    self.capacity_max = capacity_max
    self.capacity_steps = capacity_steps

  def get_config(self):
    return {**super().get_config(), "gamma": self.gamma,
            "capacity_max": self.capacity_max,
            "capacity_steps": self.capacity_steps}

  @classmethod
  def from_config_section(cls, section, context):
    return cls(section.capacity_gamma, section.capacity_max,
               section.capacity_steps)

  def balance(self, terms, step, training):
    capacity = schedules.capacity(step, self.capacity_max, self.capacity_steps)
    batch_rate = elbo.global_batch_mean(terms.rate)
    per_example, kl_coef, nll_coef = balanced.capacity_loss(
        terms.rec, terms.rate, batch_rate, capacity, self.gamma,
        terms.rec_divisor)
    return Balanced(per_example=per_example,
                    kl_weight=self.gamma * tf.sign(batch_rate - capacity),
                    beta_eff=kl_coef / nll_coef,
                    scalars={"capacity": capacity})
