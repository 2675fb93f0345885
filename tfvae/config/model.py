"""Which model a run builds: networks, latent size, likelihood."""

import dataclasses
import math
from typing import Literal, Optional

from tfvae.config.base import Section, option, positive_int
from tfvae.errors import ConfigError

MODELS = ("vae", "reference")
REFERENCE_RECS = ("l2", "bce")
LIKELIHOODS = ("bernoulli", "continuous_bernoulli", "gaussian")
SIGMA_MODES = ("learned", "learned_channel", "learned_pixel", "optimal")
GAUSSIAN_MEANS = ("auto", "sigmoid", "identity")
KL_ESTIMATORS = ("analytic", "monte_carlo")
ARCHITECTURES = ("mlp", "conv")


@dataclasses.dataclass
class ModelConfig(Section):
  """The model class, its decoder distribution and its networks."""

  model: Literal["vae", "reference"] = option(
      "vae", "vae (the general, switchable VAE) | reference (the question's "
      "loss, line for line).", MODELS)
  reference_rec: Literal["l2", "bce"] = option(
      "l2", "Reconstruction of --model=reference: l2 (summed squared error) "
      "| bce (clipped, summed).", REFERENCE_RECS)
  likelihood: Literal["bernoulli", "continuous_bernoulli", "gaussian"] = option(
      "gaussian", "Decoder distribution: bernoulli | continuous_bernoulli | "
      "gaussian.", LIKELIHOODS)
  sigma: str = option(
      "learned", "Gaussian sigma: a number (fixed; 0.7071 = the question's "
      "L2), learned | learned_channel | learned_pixel | optimal.")
  gaussian_mean: Literal["auto", "sigmoid", "identity"] = option(
      "auto", "Gaussian mean: auto (sigmoid for data declared or detected in "
      "[0, 1], identity for real-valued data) | sigmoid | identity.",
      GAUSSIAN_MEANS)
  kl_estimator: Literal["analytic", "monte_carlo"] = option(
      "analytic", "analytic (closed form) | monte_carlo (one sample).",
      KL_ESTIMATORS)
  architecture: Literal["mlp", "conv"] = option(
      "mlp", "mlp | conv (8x8, 28x28, 32x32, 64x64 inputs).", ARCHITECTURES)
  latent_dim: int = option(8, "Number of latent dimensions J.")
  hidden_units: int = option(256, "Width of the mlp's hidden layers.")

  @property
  def fixed_sigma(self) -> Optional[float]:
    """The decoder sigma when `sigma` is a number, else None."""
    try:
      return float(self.sigma)
    except (TypeError, ValueError):
      return None

  def validate(self) -> "ModelConfig":
    self.check_choices()
    if self.likelihood == "gaussian":
      sigma = self.fixed_sigma
      if sigma is None and self.sigma not in SIGMA_MODES:
        raise ConfigError(
            f"sigma={self.sigma!r} must be a positive number or one of "
            f"{', '.join(SIGMA_MODES)}", params=("sigma",))
      if sigma is not None and not (sigma > 0 and math.isfinite(sigma)):
        raise ConfigError(f"sigma must be positive and finite, got {sigma}",
                          params=("sigma",))
    positive_int("latent_dim", self.latent_dim)
    positive_int("hidden_units", self.hidden_units)
    return self
