"""The weighting convention of a VAE loss, and the one number behind all of them.

Per example, with K input features and J latent dimensions, a VAE loss is
written `rec + w * kl` with `rec = D / K_r` (D the summed reconstruction NLL,
nats) and `kl = R / J_r` (R the summed KL), where K_r = K for a mean over
features (`rec="mean"`) and 1 for a sum, and J_r likewise for the KL. Dividing
by K_r only rescales the loss, so every convention is the ELBO with an
effective beta (Alemi et al. 2018; Higgins et al. 2017, App. A.6):

    beta_eff  = w K_r / J_r              weight on summed KL per summed NLL
    beta_norm = beta_eff J / K           Higgins' normalised beta
    beta_l2   = beta_eff 2 sigma^2       weight per unit of summed squared error
                                         (a Gaussian NLL is SSE / (2 sigma^2) + c)

A squared-error loss `c * SSE` is such a Gaussian NLL with sigma^2 = 1 / (2 c)
(the question's SSE: sigma^2 = 1/2; pythae's 0.5 SSE: sigma^2 = 1).

This module is plain Python (no TensorFlow): the model, the command line and
the translator between peers' conventions all convert through it.
"""

import dataclasses
import math
from typing import Optional

REDUCTIONS = ("sum", "mean")


def _check_weight(name, value):
  if value is None:
    return
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise TypeError(f"{name} must be a number, got {value!r}")
  if not (math.isfinite(value) and value >= 0):
    raise ValueError(f"{name} must be >= 0 and finite, got {value!r}")


def _check_size(name, value):
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def divisor(reduction: str, size: int) -> float:
  """K_r or J_r: `size` for a mean reduction, 1 for a sum."""
  if reduction not in REDUCTIONS:
    raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
  return float(size) if reduction == "mean" else 1.0


def beta_eff_from_weight(weight, rec, kl, num_features, latent_dim):
  """beta_eff = w K_r / J_r for a weight as written on the reduced KL."""
  return weight * divisor(rec, num_features) / divisor(kl, latent_dim)


def weight_from_beta_eff(beta_eff, rec, kl, num_features, latent_dim):
  """The weight as written on the reduced KL that gives `beta_eff`."""
  return beta_eff * divisor(kl, latent_dim) / divisor(rec, num_features)


def beta_norm_from_beta_eff(beta_eff, num_features, latent_dim):
  """beta_norm = beta_eff J / K (Higgins et al. 2017, App. A.6)."""
  return beta_eff * latent_dim / num_features


def beta_eff_from_beta_norm(beta_norm, num_features, latent_dim):
  return beta_norm * num_features / latent_dim


def beta_l2_from_beta_eff(beta_eff, sigma2):
  """The weight on summed KL per unit of summed squared error: 2 sigma^2 beta_eff.

  A Gaussian decoder with variance sigma^2 has NLL = SSE / (2 sigma^2) + const,
  so `D + beta_eff R` is proportional to `SSE + 2 sigma^2 beta_eff R`.
  """
  return beta_eff * 2.0 * sigma2


def beta_eff_from_beta_l2(beta_l2, sigma2):
  """Inverse of `beta_l2_from_beta_eff`: beta_eff = beta_l2 / (2 sigma^2)."""
  return beta_l2 / (2.0 * sigma2)


def sigma2_from_squared_error_factor(factor):
  """The Gaussian variance a squared-error loss `factor * SSE` implies.

  `factor * SSE` is the NLL of a Gaussian with sigma^2 = 1 / (2 factor), up to
  the constant (K/2) log(2 pi sigma^2): the question's SSE (factor 1) is
  sigma^2 = 1/2, pythae's 0.5 SSE is sigma^2 = 1.
  """
  return 1.0 / (2.0 * factor)


def squared_error_factor_from_sigma2(sigma2):
  """Inverse of `sigma2_from_squared_error_factor`: factor = 1 / (2 sigma^2)."""
  return 1.0 / (2.0 * sigma2)


@dataclasses.dataclass(frozen=True)
class Weighting:
  """How the loss is written: reductions and the KL weight.

  `loss = rec + beta * kl` with `rec` the reconstruction NLL summed (`"sum"`)
  or averaged (`"mean"`) over the K features and `kl` the KL summed or
  averaged over the J latent dimensions. Give the weight as written (`beta`)
  or as Higgins' normalised `beta_norm` (not both); neither means beta = 1.

  Example: the question's "mean squared error, mean KL, weight 0.1" is
  `Weighting(rec="mean", kl="mean", beta=0.1)`, which is beta_norm = 0.1.
  """

  rec: str = "sum"
  kl: str = "sum"
  beta: Optional[float] = None
  beta_norm: Optional[float] = None

  def __post_init__(self):
    for name in ("rec", "kl"):
      value = getattr(self, name)
      if value not in REDUCTIONS:
        raise ValueError(f"{name} must be 'sum' or 'mean', got {value!r}")
    _check_weight("beta", self.beta)
    _check_weight("beta_norm", self.beta_norm)
    if self.beta is not None and self.beta_norm is not None:
      raise ValueError("beta and beta_norm are mutually exclusive; give one")

  def get_config(self) -> dict:
    """The fields, for Keras serialisation of a model that holds it."""
    return dataclasses.asdict(self)

  @classmethod
  def from_config(cls, config: dict) -> "Weighting":
    return cls(**config)

  def rec_divisor(self, num_features: int) -> float:
    return divisor(self.rec, num_features)

  def kl_divisor(self, latent_dim: int) -> float:
    return divisor(self.kl, latent_dim)

  def kl_weight(self, num_features: int, latent_dim: int) -> float:
    """The weight as written on the reduced KL term (beta, or from beta_norm)."""
    _check_size("num_features", num_features)
    _check_size("latent_dim", latent_dim)
    if self.beta_norm is None:
      return 1.0 if self.beta is None else float(self.beta)
    beta_eff = beta_eff_from_beta_norm(self.beta_norm, num_features,
                                       latent_dim)
    return weight_from_beta_eff(beta_eff, self.rec, self.kl, num_features,
                                latent_dim)

  def beta_eff(self, num_features: int, latent_dim: int) -> float:
    """The weight on the summed KL per unit of summed NLL (ELBO units)."""
    return beta_eff_from_weight(self.kl_weight(num_features, latent_dim),
                                self.rec, self.kl, num_features, latent_dim)

  def beta_norm_value(self, num_features: int, latent_dim: int) -> float:
    """Higgins' beta_norm = beta_eff J / K."""
    return beta_norm_from_beta_eff(self.beta_eff(num_features, latent_dim),
                                   num_features, latent_dim)

  def beta_l2(self, num_features: int, latent_dim: int, sigma2: float) -> float:
    """The weight in the question's L2/sum units for a Gaussian with sigma^2."""
    return beta_l2_from_beta_eff(self.beta_eff(num_features, latent_dim),
                                 sigma2)

  def report(self, num_features: int, latent_dim: int,
             sigma2: Optional[float] = None) -> dict:
    """The weight in every unit: kl_weight, beta_eff, beta_norm, beta_l2."""
    out = {
        "kl_weight": self.kl_weight(num_features, latent_dim),
        "beta_eff": self.beta_eff(num_features, latent_dim),
        "beta_norm": self.beta_norm_value(num_features, latent_dim),
        "beta_l2": None,
    }
    if sigma2 is not None:
      out["beta_l2"] = beta_l2_from_beta_eff(out["beta_eff"], sigma2)
    return out
