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
from tfvae.objectives.weighting import Weighting

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

  def weighting(self) -> Weighting:
    """The `Weighting` these settings state (its conversions are the one
    home of the weight's units)."""
    return Weighting(self.rec_reduction, self.kl_reduction, self.beta,
                     self.beta_norm)
