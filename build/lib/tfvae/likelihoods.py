"""Decoder likelihoods p(x|z) through `tensorflow_probability.distributions`.

The decoder network emits an unconstrained tensor `params` with
`likelihood.params_channels(C)` channels; the likelihood turns it into an
elementwise distribution over the input features and reports
`nll = -log p(x|z)` per feature (nats), which the objective reduces.

- `bernoulli`: `tfd.Bernoulli(logits)`. A normalised likelihood only for data in
  {0, 1}; on grey levels in [0, 1] it is the (unnormalised) BCE the question uses.
- `continuous_bernoulli`: `tfd.ContinuousBernoulli(logits)` (Loaiza-Ganem &
  Cunningham 2019), normalised on [0, 1] with log-normaliser
  C(lam) = 2 atanh(1 - 2 lam) / (1 - 2 lam); its mean is not lam.
- `gaussian` with mean sigmoid(params) (images live in [0, 1]) and sigma
  * fixed (a number; sigma = sqrt(1/2) is the question's summed L2 loss),
  * `learned`: one trainable scalar log sigma, init 0 (sigma-VAE, Rybkin,
    Daniilidis & Levine, ICML 2021),
  * `learned_channel`: one trainable log sigma per channel,
  * `learned_pixel`: the decoder predicts log sigma per feature (the sigma-VAE
    authors report this often does worse than a shared sigma),
  * `optimal`: sigma^2 = batch MSE over all features and examples, the closed
    form maximiser of the likelihood for a shared sigma (sigma-VAE, Sec. 3).
  Every learned log sigma is soft-clipped from below:
  softclip(t, m) = m + softplus(t - m), m = -6; the optimal one is floored at
  m, so it equals sqrt(batch MSE) exactly above the floor.
"""

import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.objectives import elbo

tfd = tfp.distributions

MIN_LOG_SIGMA = -6.0


def softclip(t, minimum=MIN_LOG_SIGMA):
  """Smooth lower bound: minimum + softplus(t - minimum)."""
  return minimum + tf.nn.softplus(t - minimum)


class Likelihood(keras.layers.Layer):
  """Base class: maps decoder params to an elementwise distribution."""

  name_prefix = "likelihood"
  params_per_channel = 1
  # Support of the data: "binary" ({0,1}), "unit" ([0,1]) or "real".
  support = "unit"

  def params_channels(self, channels):
    return self.params_per_channel * channels

  def distribution(self, params, x=None):
    """The elementwise `tfd.Distribution`; `x` is needed by `optimal` sigma."""
    raise NotImplementedError

  def nll(self, x, params):
    """Elementwise -log p(x | params) in nats, in float32."""
    return -self.distribution(params, x).log_prob(x)

  def mean(self, params, x=None):
    """The reconstruction shown to users: the distribution's mean."""
    return self.distribution(params, x).mean()

  def sigma_tensor(self, params, x=None):
    """The (mean) sigma of this batch for logging, or None without a sigma."""
    return None


class BernoulliLikelihood(Likelihood):

  def distribution(self, params, x=None):
    return tfd.Bernoulli(logits=params, dtype=tf.float32)

  def mean(self, params, x=None):
    return tf.sigmoid(params)


class ContinuousBernoulliLikelihood(Likelihood):

  def distribution(self, params, x=None):
    return tfd.ContinuousBernoulli(logits=params)


class GaussianLikelihood(Likelihood):
  """Gaussian with mean sigmoid(params[..., :C]) and one of the sigma modes."""

  support = "real"

  def __init__(self, sigma_mode, fixed_sigma=None, channels=1, **kwargs):
    super().__init__(**kwargs)
    self.sigma_mode = sigma_mode
    self.fixed_sigma = fixed_sigma
    self.channels = channels
    self.params_per_channel = 2 if sigma_mode == "learned_pixel" else 1
    if sigma_mode == "learned":
      self.raw_log_sigma = self.add_weight(
          shape=(), initializer="zeros", name="log_sigma", trainable=True)
    elif sigma_mode == "learned_channel":
      self.raw_log_sigma = self.add_weight(
          shape=(channels,), initializer="zeros", name="log_sigma_channel",
          trainable=True)
    # The sigma used by the last training batch (for "optimal" this is what the
    # decoder uses when no data is at hand, e.g. in the `decode` signature).
    self.last_log_sigma = self.add_weight(
        shape=(), initializer="zeros", name="last_log_sigma", trainable=False)

  def log_sigma(self, loc, x=None):
    """log sigma broadcastable to loc."""
    if self.sigma_mode == "fixed":
      return tf.fill(tf.shape(loc[:1, :1, :1, :1]), math.log(self.fixed_sigma))
    if self.sigma_mode in ("learned", "learned_channel"):
      return softclip(tf.cast(self.raw_log_sigma, loc.dtype))
    if self.sigma_mode == "optimal":
      if x is None:
        return tf.cast(self.last_log_sigma, loc.dtype)
      # The global batch's MSE, also when tf.distribute splits the batch.
      mse = elbo.global_batch_mean(tf.square(x - loc))
      # A hard floor keeps sigma exactly sqrt(MSE) above it (a softclip would
      # bias it by ~0.5% at sigma ~ 0.45); nothing is trained through it.
      return tf.maximum(0.5 * tf.math.log(mse), MIN_LOG_SIGMA)
    raise ValueError("learned_pixel sigma comes from the decoder")

  def _loc_and_scale(self, params, x=None):
    loc = tf.sigmoid(params[..., :self.channels])
    if self.sigma_mode == "learned_pixel":
      log_sigma = softclip(params[..., self.channels:])
    else:
      log_sigma = self.log_sigma(loc, x)
    return loc, log_sigma

  def distribution(self, params, x=None):
    loc, log_sigma = self._loc_and_scale(params, x)
    return tfd.Normal(loc=loc, scale=tf.exp(log_sigma))

  def mean(self, params, x=None):
    return tf.sigmoid(params[..., :self.channels])

  def sigma_tensor(self, params, x=None):
    """The (mean) sigma of this batch, for logging."""
    _, log_sigma = self._loc_and_scale(params, x)
    return elbo.global_batch_mean(tf.exp(log_sigma))


def make_likelihood(name, sigma="learned", channels=1):
  """Builds the likelihood layer named by the config."""
  if name == "bernoulli":
    lik = BernoulliLikelihood(name="likelihood")
    lik.support = "binary"
    return lik
  if name == "continuous_bernoulli":
    return ContinuousBernoulliLikelihood(name="likelihood")
  if name == "gaussian":
    try:
      fixed = float(sigma)
      mode = "fixed"
    except (TypeError, ValueError):
      fixed, mode = None, sigma
    return GaussianLikelihood(mode, fixed_sigma=fixed, channels=channels,
                              name="likelihood")
  raise ValueError(f"unknown likelihood {name!r}")
