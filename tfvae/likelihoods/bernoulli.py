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

from tfvae.likelihoods import base
from tfvae.likelihoods.base import Likelihood
from tfvae.likelihoods.base import register

tfd = tfp.distributions


@register("bernoulli")
class Bernoulli(Likelihood):
  """p(x|z) = prod_k lam_k^x_k (1 - lam_k)^(1 - x_k), lam = sigmoid(params)."""

  support = "binary"

  def __init__(self, name="likelihood", **kwargs):
    super().__init__(name=name, **kwargs)

  def check_data(self, x, argument="x"):
    base.check_unit_interval(x, argument, "bernoulli")
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

  def __init__(self, name="likelihood", **kwargs):
    super().__init__(name=name, **kwargs)

  def check_data(self, x, argument="x"):
    base.check_unit_interval(x, argument, "continuous_bernoulli")
    return []

  def distribution(self, params, x=None):
    return tfd.ContinuousBernoulli(logits=params)
