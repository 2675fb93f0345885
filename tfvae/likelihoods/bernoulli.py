"""Bernoulli and continuous Bernoulli decoders on logits.

- `Bernoulli`: `tfd.Bernoulli(logits)`, stable on logits. A normalised
  likelihood only for data in {0, 1}; on grey levels in [0, 1] its NLL is the
  (unnormalised) binary cross-entropy the question and the Keras VAE example
  use (Loaiza-Ganem & Cunningham 2019).
- `ContinuousBernoulli`: `tfd.ContinuousBernoulli(logits)` (Loaiza-Ganem &
  Cunningham 2019, "The continuous Bernoulli: fixing a pervasive error in
  variational autoencoders"), normalised on [0, 1] with log-normaliser
  C(lam) = 2 atanh(1 - 2 lam) / (1 - 2 lam), C(1/2) = 2; its mean is not lam.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.likelihoods.base import Likelihood
from tfvae.likelihoods.base import data_error
from tfvae.likelihoods.base import register

tfd = tfp.distributions


def value_range(x):
  """(min, max) of an array, as Python floats."""
  return float(np.min(x)), float(np.max(x))


def check_unit_interval(x, argument, family, fix):
  """DataError naming `argument` when a value of x leaves [0, 1]; the
  message shows the range found and `fix`, or the division by 255 when the
  data look like 8-bit images."""
  low, high = value_range(x)
  if low >= 0.0 and high <= 1.0:
    return
  if low >= 0.0 and high <= 255.0 and np.all(np.asarray(x) == np.round(x)):
    fix = ("these look like 8-bit images (0-255): divide them by 255 "
           "(x / 255.0)")
  raise data_error(argument, f"{family} needs values in [0, 1], got values "
                   f"in [{low:g}, {high:g}]; {fix}")


@register("bernoulli")
class Bernoulli(Likelihood):
  """p(x|z) = prod_k lam_k^x_k (1 - lam_k)^(1 - x_k), lam = sigmoid(params)."""

  support = "binary"
  # The decoder outputs logits (the sigmoid is applied here).
  logit_params = True

  def __init__(self, name="likelihood", **kwargs):
    super().__init__(name=name, **kwargs)

  def check_data(self, x, argument="x"):
    check_unit_interval(
        x, argument, "the Bernoulli likelihood",
        "rescale the data to [0, 1] (divide uint8 images by 255), or use a "
        "Gaussian likelihood for real-valued data")
    if not np.all((x == 0) | (x == 1)):
      return ["the data are not binary; Bernoulli is then not a normalised "
              "likelihood (consider continuous_bernoulli or "
              "binarization=dynamic)"]
    return []

  def distribution(self, params, x=None):
    return tfd.Bernoulli(logits=params, dtype=tf.float32)

  def mean(self, params, x=None):
    return tf.sigmoid(params)


@register("continuous_bernoulli")
class ContinuousBernoulli(Likelihood):
  """The normalised density on [0, 1] for grey-level data."""

  support = "unit"
  logit_params = True

  def __init__(self, name="likelihood", **kwargs):
    super().__init__(name=name, **kwargs)

  def check_data(self, x, argument="x"):
    check_unit_interval(
        x, argument, "the continuous Bernoulli likelihood",
        "standardised (zero-mean) or other real-valued data needs a Gaussian "
        "likelihood: tfvae.likelihoods.Gaussian(mean='identity')")
    return []

  def distribution(self, params, x=None):
    return tfd.ContinuousBernoulli(logits=params)
