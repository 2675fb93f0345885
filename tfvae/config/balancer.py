"""What sets the KL weight over training: a schedule, free bits, a controller.

Schedules: Bowman et al. 2016 (linear, sigmoid), Fu et al. 2019 (cyclical).
Free bits: Kingma et al. 2016. Capacity: Burgess et al. 2018. GECO: Rezende &
Viola 2018. ControlVAE: Shao et al. 2020. The parts of the KL: beta-TCVAE
(Chen et al. 2018), FactorVAE (Kim & Mnih 2018), DIP-VAE (Kumar et al. 2018).
"""

import dataclasses
import math
from typing import Literal, Optional

from tfvae.balancing import capacity
from tfvae.config.base import Section, non_negative_finite, option, positive_int
from tfvae.errors import ConfigError

KL_SCHEDULES = ("constant", "linear", "sigmoid", "cyclical")
CYCLE_SHAPES = ("linear", "sigmoid", "cosine")
BALANCERS = ("none", "capacity", "geco", "controlvae")
# Balancers that weight parts of the KL (tfvae.balancing.kl_parts).
KL_PART_BALANCERS = ("beta_tcvae", "factorvae", "dip_vae_i", "dip_vae_ii")
TC_ESTIMATORS = ("mss", "mws")
FREE_BITS_MODES = ("batch", "example")
GECO_UNITS = ("per_pixel", "per_example")


@dataclasses.dataclass
class BalancerConfig(Section):
  """The balancing method and every method's parameters."""

  balancer: Literal["none", "capacity", "geco", "controlvae", "beta_tcvae",
                    "factorvae", "dip_vae_i", "dip_vae_ii"] = option(
      "none", "none | capacity (Burgess et al.) | geco (Rezende & Viola) | "
      "controlvae (Shao et al.) | beta_tcvae (Chen et al.) | factorvae (Kim & "
      "Mnih) | dip_vae_i | dip_vae_ii (Kumar et al.).",
      BALANCERS + KL_PART_BALANCERS)
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
  capacity_gamma: float = option(
      capacity.DEFAULT_GAMMA, "Capacity: gamma on |KL - C| (Burgess et al.: 1000 for 64x64 "
      "images; scale it with the pixel count).")
  capacity_max: float = option(capacity.DEFAULT_MAX,
                               "Capacity: C_max in nats (summed KL).")
  capacity_steps: int = option(capacity.DEFAULT_STEPS,
                               "Capacity: steps for C to reach C_max.")
  geco_target: Optional[float] = option(
      None, "GECO: kappa, the tolerated reconstruction error -log p(x|z) in "
      "nats PER PIXEL (NLL summed over the K features / K; the default units) "
      "or PER EXAMPLE (summed NLL) as --geco_target_units says.")
  geco_target_units: Literal["per_pixel", "per_example"] = option(
      "per_pixel", "Units of --geco_target: per_pixel (nats per feature) | "
      "per_example (nats per example).", GECO_UNITS)
  geco_alpha: float = option(0.99, "GECO: moving-average decay of the "
                             "constraint.")
  geco_rate: float = option(1e-2, "GECO: multiplier update rate nu.")
  geco_lambda_init: float = option(
      1.0, "GECO: initial Lagrange multiplier (1 in the paper; with "
      "per_pixel units K starts at the ELBO).")
  control_kl_target: Optional[float] = option(
      None, "ControlVAE: set point of the current batch's mean KL (nats, "
      "summed over latents).")
  control_kp: float = option(0.01, "ControlVAE: proportional gain Kp.")
  control_ki: float = option(0.0001, "ControlVAE: integral gain Ki.")
  control_beta_min: float = option(0.0, "ControlVAE: lower bound of beta.")
  control_beta_max: float = option(1.0, "ControlVAE: upper bound of beta.")
  # Weighting the parts of the KL (docs/balancing.md).
  tc_alpha: float = option(1.0, "beta-TCVAE: weight on the index-code mutual "
                           "information (Chen et al.: 1).")
  tc_beta: float = option(6.0, "beta-TCVAE: weight on the total correlation "
                          "(default 6, the middle of disentanglement_lib's "
                          "sweep 1..10).")
  tc_gamma: float = option(1.0, "beta-TCVAE: weight on the dimension-wise KL "
                           "(Chen et al.: 1).")
  tc_estimator: Literal["mss", "mws"] = option(
      "mss", "beta-TCVAE: estimator of log q(z): mss (minibatch stratified "
      "sampling, Chen et al. App. C.2) | mws (minibatch weighted sampling).",
      TC_ESTIMATORS)
  factorvae_gamma: float = option(
      35.0, "FactorVAE: weight on the discriminator's total correlation "
      "estimate (Kim & Mnih: 35 on dSprites).")
  factorvae_units: int = option(1000, "FactorVAE: width of the "
                                "discriminator's hidden layers (Kim & Mnih: "
                                "1000).")
  factorvae_layers: int = option(6, "FactorVAE: hidden layers of the "
                                 "discriminator (Kim & Mnih: 6).")
  dip_lambda_od: float = option(10.0, "DIP-VAE: weight on the squared "
                                "off-diagonal covariance entries (default "
                                "10).")
  dip_lambda_d: Optional[float] = option(
      None, "DIP-VAE: weight on the squared diagonal deviations from 1 "
      "(default: 10 x --dip_lambda_od for dip_vae_i, --dip_lambda_od for "
      "dip_vae_ii, as disentanglement_lib).")

  @property
  def sets_weight(self) -> bool:
    """True when the balancer itself sets the KL weight."""
    return self.balancer in ("capacity", "geco", "controlvae")

  def validate(self, weight_given=False) -> "BalancerConfig":
    """Checks the values; `weight_given`: the objective sets beta/beta_norm."""
    self.check_choices()
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
    if not (self.free_bits >= 0 and math.isfinite(self.free_bits)):
      raise ConfigError(f"free_bits must be >= 0, got {self.free_bits}",
                        params=("free_bits",))
    if self.balancer == "capacity":
      if self.capacity_gamma <= 0 or self.capacity_max < 0:
        raise ConfigError("capacity_gamma must be > 0 and capacity_max >= 0",
                          params=("capacity_gamma", "capacity_max"))
      positive_int("capacity_steps", self.capacity_steps)
      if self.free_bits > 0:
        # The capacity term acts on the raw summed KL; a floor would be ignored.
        raise ConfigError("balancer=capacity already sets a KL target; "
                          "free_bits would be ignored, drop it",
                          params=("balancer", "free_bits"))
    if self.sets_weight and weight_given:
      raise ConfigError(f"balancer={self.balancer} sets the KL weight "
                        "itself; drop beta/beta_norm",
                        params=("balancer", "beta", "beta_norm"))
    if self.sets_weight and self.kl_schedule != "constant":
      raise ConfigError(f"balancer={self.balancer} and kl_schedule="
                        f"{self.kl_schedule} both set the KL weight; pick one",
                        params=("balancer", "kl_schedule"))
    if self.balancer == "geco":
      self._validate_geco()
    if self.balancer == "controlvae":
      self._validate_controlvae()
    self._validate_kl_parts()
    return self

  def _validate_kl_parts(self):
    """beta-TCVAE, FactorVAE and DIP-VAE (tfvae.balancing.kl_parts)."""
    for name in ("tc_alpha", "tc_beta", "tc_gamma", "factorvae_gamma",
                 "dip_lambda_od", "dip_lambda_d"):
      non_negative_finite(name, getattr(self, name))
    positive_int("factorvae_units", self.factorvae_units)
    positive_int("factorvae_layers", self.factorvae_layers)
    if self.balancer in KL_PART_BALANCERS and self.free_bits > 0:
      raise ConfigError(f"balancer={self.balancer} does not combine with "
                        "free_bits; drop one", params=("balancer", "free_bits"))
    if self.balancer in KL_PART_BALANCERS and self.kl_schedule != "constant":
      raise ConfigError(f"balancer={self.balancer} weights the KL's parts "
                        "with constant weights; kl_schedule needs "
                        "balancer=none", params=("balancer", "kl_schedule"))

  def _validate_geco(self):
    # A continuous likelihood's NLL may be <= 0, so any finite kappa is valid.
    if self.geco_target is None or not math.isfinite(self.geco_target):
      raise ConfigError("balancer=geco needs a finite geco_target (a "
                        "reconstruction NLL in nats, per pixel or per "
                        "example as geco_target_units says)",
                        params=("balancer", "geco_target",
                                "geco_target_units"))
    if not 0 <= self.geco_alpha < 1:
      raise ConfigError(f"geco_alpha must be in [0, 1), got {self.geco_alpha}",
                        params=("geco_alpha",))
    if self.geco_rate <= 0 or self.geco_lambda_init <= 0:
      raise ConfigError("geco_rate and geco_lambda_init must be > 0",
                        params=("geco_rate", "geco_lambda_init"))

  def _validate_controlvae(self):
    if self.control_kl_target is None or self.control_kl_target < 0:
      raise ConfigError("balancer=controlvae needs control_kl_target >= 0 "
                        "(nats, summed over latent dimensions)",
                        params=("balancer", "control_kl_target"))
    if self.control_kp < 0 or self.control_ki < 0:
      raise ConfigError("control_kp and control_ki must be >= 0",
                        params=("control_kp", "control_ki"))
    if not 0 <= self.control_beta_min <= self.control_beta_max:
      raise ConfigError("need 0 <= control_beta_min <= control_beta_max",
                        params=("control_beta_min", "control_beta_max"))
