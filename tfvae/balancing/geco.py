"""GECO (Rezende & Viola 2018, "Taming VAEs"): a reconstruction target.

Minimise the KL subject to E[C] <= 0 with C = rec_err - kappa, through the
Lagrangian KL + lambda C_hat (`tfvae.balancing.controllers.geco_update` for
the moving average and the multiplier). kappa (`target`) is in nats per
feature (`target_units="per_pixel"`: the summed NLL / K) or per example
(`"per_example"`: the summed NLL). The KL term keeps the `Weighting`'s KL
reduction; the reconstruction reduction does not apply (the constraint has
its own units).

Effective beta: 1 / lambda in the constraint's units, i.e.
beta_eff = divisor / (J_r lambda) with divisor = K (per pixel) or 1.
"""

import dataclasses
import math
from typing import Literal, Optional

import tensorflow as tf

from tfvae.balancing import controllers
from tfvae.balancing.base import Balanced
from tfvae.balancing.base import Balancer
from tfvae.balancing.base import register
from tfvae.errors import ConfigError
from tfvae.objectives import balanced
from tfvae.objectives import elbo
from tfvae.settings import option

TARGET_UNITS = ("per_pixel", "per_example")


@dataclasses.dataclass
class GECOSettings:
  """GECO's command-line settings."""

  geco_target: Optional[float] = option(
      None, "GECO: kappa, the tolerated reconstruction error -log p(x|z) in "
      "nats PER PIXEL (NLL summed over the K features / K; the default units) "
      "or PER EXAMPLE (summed NLL) as --geco_target_units says.")
  geco_target_units: Literal["per_pixel", "per_example"] = option(
      "per_pixel", "Units of --geco_target: per_pixel (nats per feature) | "
      "per_example (nats per example).", TARGET_UNITS)
  geco_alpha: float = option(0.99, "GECO: moving-average decay of the "
                             "constraint.")
  geco_rate: float = option(1e-2, "GECO: multiplier update rate nu.")
  geco_lambda_init: float = option(
      1.0, "GECO: initial Lagrange multiplier (1 in the paper; with "
      "per_pixel units K starts at the ELBO).")


@register("geco")
class GECO(Balancer):
  """Args: target kappa (finite), target_units, alpha in [0, 1), rate nu > 0,
  lambda_init > 0."""

  scalar_names = ("geco_lambda", "geco_constraint_ma", "geco_constraint")
  Settings = GECOSettings
  sets_weight = True
  label = "GECO"
  citation = "Rezende & Viola"
  weight_settings = ("geco_target",)

  def __init__(self, target, target_units="per_pixel", alpha=0.99, rate=1e-2,
               lambda_init=1.0, name="balancer", **kwargs):
    super().__init__(name=name, **kwargs)
    if target is None or not math.isfinite(target):
      raise ValueError(f"target must be a finite reconstruction NLL, got "
                       f"{target!r}")
    if target_units not in TARGET_UNITS:
      raise ValueError(f"target_units must be one of "
                       f"{', '.join(TARGET_UNITS)}, got {target_units!r}")
    if not 0 <= alpha < 1:
      raise ValueError(f"alpha must be in [0, 1), got {alpha!r}")
    if not (rate > 0 and lambda_init > 0):
      raise ValueError("rate and lambda_init must be > 0")
    self.target = float(target)
    self.target_units = target_units
    self.alpha = alpha
    self.rate = rate
    self.lambda_init = lambda_init
    self.lagrange = self._state("geco_lambda", lambda_init)
    self.constraint_ma = self._state("geco_constraint_ma")
    self.initialized = self._state("geco_initialized")

  def get_config(self):
    return {**super().get_config(), "target": self.target,
            "target_units": self.target_units, "alpha": self.alpha,
            "rate": self.rate, "lambda_init": self.lambda_init}

  @classmethod
  def from_config_section(cls, section, context):
    return cls(section.geco_target, section.geco_target_units,
               section.geco_alpha, section.geco_rate, section.geco_lambda_init)

  @classmethod
  def check_settings(cls, section):
    super().check_settings(section)
    # A continuous likelihood's NLL may be <= 0, so any finite kappa is valid.
    if section.geco_target is None or not math.isfinite(section.geco_target):
      raise ConfigError("balancer=geco needs a finite geco_target (a "
                        "reconstruction NLL in nats, per pixel or per "
                        "example as geco_target_units says)",
                        params=("balancer", "geco_target",
                                "geco_target_units"))
    if not 0 <= section.geco_alpha < 1:
      raise ConfigError(
          f"geco_alpha must be in [0, 1), got {section.geco_alpha}",
          params=("geco_alpha",))
    if section.geco_rate <= 0 or section.geco_lambda_init <= 0:
      raise ConfigError("geco_rate and geco_lambda_init must be > 0",
                        params=("geco_rate", "geco_lambda_init"))

  def balance(self, terms, step, training):
    divisor = terms.num_features if self.target_units == "per_pixel" else 1
    constraint = terms.distortion / divisor - self.target
    constraint_batch = elbo.global_batch_mean(constraint)
    _, new_ma, new_lagrange = controllers.geco_update(
        constraint_batch, self.constraint_ma, self.lagrange,
        self.initialized > 0, self.alpha, self.rate)
    correction = tf.stop_gradient(new_ma - constraint_batch)
    per_example, kl_coef, nll_coef = balanced.geco_loss(
        terms.kl, constraint, correction, self.lagrange, terms.kl_divisor,
        float(divisor))
    return Balanced(
        per_example=per_example, kl_weight=1.0 / self.lagrange,
        beta_eff=kl_coef / nll_coef,
        scalars={"geco_lambda": tf.identity(self.lagrange),
                 "geco_constraint_ma": new_ma,
                 "geco_constraint": constraint_batch},
        updates=[(self.constraint_ma, new_ma), (self.lagrange, new_lagrange),
                 (self.initialized, 1.0)])
