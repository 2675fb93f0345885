"""How the loss weighs the KL against the reconstruction.

- `rec_reduction` / `kl_reduction` choose `sum` or `mean` over the K input
  features and the J latent dimensions; examples are always averaged over the
  batch.
- `beta` is the weight *as written* on the reduced KL term:
  `loss = rec_reduced + beta * kl_reduced`.
- `beta_norm` is Higgins et al.'s normalised weight, `beta_norm = beta_eff * J
  / K`, where `beta_eff` is the weight on the summed KL per unit of summed NLL
  (ELBO units). `beta` and `beta_norm` are mutually exclusive.
"""

import dataclasses
from typing import Literal, Optional

from tfvae.config.base import Section, non_negative_finite, option
from tfvae.errors import ConfigError

REDUCTIONS = ("sum", "mean")


@dataclasses.dataclass
class ObjectiveConfig(Section):
  """The reductions and the KL weight in one of its two conventions."""

  rec_reduction: Literal["sum", "mean"] = option(
      "sum", "sum | mean of the reconstruction NLL over features.", REDUCTIONS)
  kl_reduction: Literal["sum", "mean"] = option(
      "sum", "sum | mean of the KL over latent dimensions.", REDUCTIONS)
  beta: Optional[float] = option(
      None, "KL weight as written on the reduced KL term (default 1).")
  beta_norm: Optional[float] = option(
      None, "Normalised KL weight of Higgins et al.: beta_eff * J / K. "
      "Exclusive with --beta.")

  @property
  def weight_given(self) -> bool:
    return self.beta is not None or self.beta_norm is not None

  def validate(self) -> "ObjectiveConfig":
    self.check_choices()
    if self.beta is not None and self.beta_norm is not None:
      raise ConfigError("beta and beta_norm are mutually exclusive; give one",
                        params=("beta", "beta_norm"))
    non_negative_finite("beta", self.beta)
    non_negative_finite("beta_norm", self.beta_norm)
    return self

  def resolved_kl_weight(self, num_features: int, latent_dim: int) -> float:
    """The weight as written on the reduced KL term (`beta`).

    `beta_norm = b` is converted through beta_eff = b K / J and
    beta = beta_eff * J_r / K_r, where K_r = K for a mean reduction of the
    reconstruction (else 1) and J_r likewise for the KL.
    """
    if self.beta_norm is None:
      return 1.0 if self.beta is None else float(self.beta)
    beta_eff = self.beta_norm * num_features / latent_dim
    return beta_eff * self.kl_divisor(latent_dim) / self.rec_divisor(
        num_features)

  def rec_divisor(self, num_features: int) -> float:
    return float(num_features) if self.rec_reduction == "mean" else 1.0

  def kl_divisor(self, latent_dim: int) -> float:
    return float(latent_dim) if self.kl_reduction == "mean" else 1.0
