"""What sets the KL weight over training: a schedule, free bits, a balancer.

Schedules: Bowman et al. 2016 (linear, sigmoid), Fu et al. 2019 (cyclical).
Free bits: Kingma et al. 2016. These are the section's own settings; every
`--balancer=` method (capacity, GECO, ControlVAE, beta-TCVAE, FactorVAE,
DIP-VAE, a user's) declares its settings, their checks and what it sets in
its class (`tfvae.balancing.base`), and they are collected here from the
registry, so a new method adds its flags without touching this module.
"""

import dataclasses
import math
from typing import Literal, Optional

from tfvae import balancing
from tfvae.config.base import Section, option, with_settings
from tfvae.errors import ConfigError

KL_SCHEDULES = ("constant", "linear", "sigmoid", "cyclical")
CYCLE_SHAPES = ("linear", "sigmoid", "cosine")
FREE_BITS_MODES = ("batch", "example")


def _balancer_help():
  """--balancer's help: the choices with their papers (one paper shown once
  after the last of the methods in a row that share it)."""
  classes = balancing.selectable()
  parts = ["none"]
  for i, cls in enumerate(classes):
    following = classes[i + 1].citation if i + 1 < len(classes) else None
    shown = cls.citation and cls.citation != following
    parts.append(cls.registry_name +
                 (f" ({cls.citation})" if shown else ""))
  return " | ".join(parts) + "."


@dataclasses.dataclass
class _GeneralSettings(Section):
  """The balancing method and every method's parameters."""

  balancer: str = option(
      "none", _balancer_help(),
      ("none",) + tuple(cls.registry_name for cls in balancing.selectable()))
  kl_schedule: Literal["constant", "linear", "sigmoid", "cyclical"] = option(
      "constant", "constant | linear | sigmoid | cyclical warm-up of the KL "
      "weight (Keras callback on the global step).", KL_SCHEDULES)
  kl_warmup_steps: int = option(
      0, "T: warm-up length (linear, sigmoid) or total length of all cycles "
      "(cyclical; default: the whole run).")
  kl_sigmoid_k: Optional[float] = option(None, "Sigmoid slope k (default "
                                         "10/T).")
  kl_sigmoid_x0: Optional[float] = option(None, "Sigmoid midpoint x0 "
                                          "(default T/2).")
  kl_cycles: int = option(4, "Number of cycles M of the cyclical schedule.")
  kl_cycle_ratio: float = option(0.5, "Fraction R of each cycle spent "
                                 "ramping.")
  kl_cycle_shape: Literal["linear", "sigmoid", "cosine"] = option(
      "linear", "Ramp shape of the cyclical schedule: linear | sigmoid | "
      "cosine.", CYCLE_SHAPES)
  kl_start: float = option(0.0, "Schedule start value.")
  kl_stop: Optional[float] = option(
      None, "Schedule stop value (default: the resolved --beta/--beta_norm).")
  free_bits: float = option(0.0, "Free bits lambda in nats per latent "
                            "dimension (0 = off).")
  free_bits_mode: Literal["batch", "example"] = option(
      "batch", "batch (Kingma et al.: clamp the batch-mean KL per dimension) "
      "| example (clamp per example and dimension).", FREE_BITS_MODES)

  def balancer_class(self):
    """The registered class of `balancer`, or None for `none`."""
    return None if self.balancer == "none" else balancing.lookup(self.balancer)

  @property
  def sets_weight(self) -> bool:
    """True when the balancer itself sets the KL weight."""
    chosen = self.balancer_class()
    return chosen is not None and chosen.sets_weight

  def validate(self, weight_given=False) -> "BalancerConfig":
    """Checks the values; `weight_given`: the objective sets beta/beta_norm.

    The chosen method checks its own settings; the rules here hold for every
    method that sets the KL weight or weights the KL's parts.
    """
    self.check_choices()
    self._validate_schedule()
    if not (self.free_bits >= 0 and math.isfinite(self.free_bits)):
      raise ConfigError(f"free_bits must be >= 0, got {self.free_bits}",
                        params=("free_bits",))
    chosen = self.balancer_class()
    if chosen is None:
      return self
    if chosen.sets_weight and weight_given:
      raise ConfigError(f"balancer={self.balancer} sets the KL weight "
                        "itself; drop beta/beta_norm",
                        params=("balancer", "beta", "beta_norm"))
    if chosen.sets_weight and self.kl_schedule != "constant":
      raise ConfigError(f"balancer={self.balancer} and kl_schedule="
                        f"{self.kl_schedule} both set the KL weight; pick one",
                        params=("balancer", "kl_schedule"))
    chosen.check_settings(self)
    if chosen.weights_kl_parts and self.free_bits > 0:
      raise ConfigError(f"balancer={self.balancer} does not combine with "
                        "free_bits; drop one", params=("balancer", "free_bits"))
    if chosen.weights_kl_parts and self.kl_schedule != "constant":
      raise ConfigError(f"balancer={self.balancer} weights the KL's parts "
                        "with constant weights; kl_schedule needs "
                        "balancer=none", params=("balancer", "kl_schedule"))
    return self

  def _validate_schedule(self):
    if self.kl_warmup_steps < 0:
      raise ConfigError(
          f"kl_warmup_steps must be >= 0, got {self.kl_warmup_steps}",
          params=("kl_warmup_steps",))
    if self.kl_schedule in ("linear", "sigmoid"):
      if self.kl_warmup_steps <= 0:
        raise ConfigError(f"kl_schedule={self.kl_schedule} needs "
                          "kl_warmup_steps > 0",
                          params=("kl_schedule", "kl_warmup_steps"))
    if self.kl_cycles < 1:
      raise ConfigError(f"kl_cycles must be >= 1, got {self.kl_cycles}",
                        params=("kl_cycles",))
    if not 0 < self.kl_cycle_ratio <= 1:
      raise ConfigError(
          f"kl_cycle_ratio must be in (0, 1], got {self.kl_cycle_ratio}",
          params=("kl_cycle_ratio",))
    if self.kl_start < 0 or (self.kl_stop is not None and self.kl_stop < 0):
      raise ConfigError("kl_start and kl_stop must be >= 0",
                        params=("kl_start", "kl_stop"))


# The settings of every registered method follow the general ones.
BalancerConfig = with_settings("BalancerConfig", _GeneralSettings,
                               balancing.settings_fields())
