"""Capacity (Burgess et al. 2018, "Understanding disentangling in beta-VAE").

    loss = rec + gamma |E[R] - C(t)|,   C(t) = min(C_max, C_max t / T)  (nats)

on the summed KL R, per example gamma sign(E[R] - C) (R_i - C) (same value and
gradient, see `tfvae.objectives.balanced.capacity_loss`). The KL reduction of
the `Weighting` does not apply: the target is in nats of summed KL.
Effective beta: gamma sign(E[R] - C) K_r (the constraint's pull).
"""

import dataclasses

import tensorflow as tf

from tfvae.balancing import schedules
from tfvae.balancing.base import Balanced
from tfvae.balancing.base import Balancer
from tfvae.balancing.base import register
from tfvae.errors import ConfigError
from tfvae.objectives import balanced
from tfvae.objectives import elbo
from tfvae.settings import option
from tfvae.settings import positive_int


# Burgess et al. 2018's dSprites setting (gamma for 64x64 images).
DEFAULT_GAMMA = 1000.0
DEFAULT_MAX = 25.0
DEFAULT_STEPS = 100000


@dataclasses.dataclass
class CapacitySettings:
  """Capacity's command-line settings."""

  capacity_gamma: float = option(
      DEFAULT_GAMMA, "Capacity: gamma on |KL - C| (Burgess et al.: 1000 for "
      "64x64 images; scale it with the pixel count).")
  capacity_max: float = option(DEFAULT_MAX,
                               "Capacity: C_max in nats (summed KL).")
  capacity_steps: int = option(DEFAULT_STEPS,
                               "Capacity: steps for C to reach C_max.")


@register("capacity")
class Capacity(Balancer):
  """Args: gamma > 0, capacity_max >= 0 nats, capacity_steps T >= 0."""

  scalar_names = ("capacity",)
  Settings = CapacitySettings
  sets_weight = True
  label = "capacity"
  citation = "Burgess et al."
  weight_settings = ("capacity_max",)

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

  @classmethod
  def check_settings(cls, section):
    super().check_settings(section)
    if section.capacity_gamma <= 0 or section.capacity_max < 0:
      raise ConfigError("capacity_gamma must be > 0 and capacity_max >= 0",
                        params=("capacity_gamma", "capacity_max"))
    positive_int("capacity_steps", section.capacity_steps)
    if section.free_bits > 0:
      # The capacity term acts on the raw summed KL; a floor would be ignored.
      raise ConfigError("balancer=capacity already sets a KL target; "
                        "free_bits would be ignored, drop it",
                        params=("balancer", "free_bits"))

  @classmethod
  def translator_entry(cls, values):
    notes = ()
    if values["kl_reduction"] != "sum":
      notes = ("the capacity acts on the summed KL; --kl_reduction is not "
               "used by it",)
    return {"weight": float(values["capacity_gamma"]),
            "capacity": (float(values["capacity_max"]),
                         int(values["capacity_steps"])),
            "kl_reduction": "sum", "notes": notes}

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
