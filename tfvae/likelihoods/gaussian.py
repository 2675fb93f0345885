"""Gaussian decoders: fixed, learned (shared, per channel, per feature) or optimal sigma.

p(x|z) = prod_k N(x_k; mu_k, sigma_k^2), NLL_k = (x_k - mu_k)^2 / (2 sigma_k^2)
+ log sigma_k + log(2 pi) / 2. The mean is `mu = params` for real-valued data
(`mean="identity"`) or `mu = sigmoid(params)` for data in [0, 1]
(`mean="sigmoid"`, what tfvae's image presets use). The scale is

- a number: fixed sigma. sigma = sqrt(1/2) is the question's summed L2 loss,
  and a fixed sigma *is* a KL weight of 2 sigma^2 in squared-error units;
- `"learned"`: one trainable scalar log sigma, init 0 (sigma-VAE, Rybkin,
  Daniilidis & Levine, ICML 2021);
- `"learned_channel"`: one trainable log sigma per channel (last event axis);
- `"learned_feature"` (alias `"learned_pixel"`): the decoder predicts log
  sigma per feature: its output has twice the channels, [mean | log sigma]
  (the sigma-VAE authors report this often does worse than a shared sigma);
- `"optimal"`: sigma^2 = the batch MSE over all features and examples, the
  closed-form maximiser of the likelihood for a shared sigma (sigma-VAE,
  Sec. 3).

Learned log sigmas are soft-clipped from below: softclip(t, m) =
m + softplus(t - m), m = -6; the optimal one is floored at m (a hard floor, so
it equals sqrt(batch MSE) exactly above it).
"""

import dataclasses
import math
import numbers

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.errors import ConfigError
from tfvae.likelihoods.base import Likelihood
from tfvae.likelihoods.base import data_error
from tfvae.likelihoods.base import register
from tfvae.objectives import elbo
from tfvae.settings import option

tfd = tfp.distributions

MIN_LOG_SIGMA = -6.0
SIGMA_MODES = ("learned", "learned_channel", "learned_feature", "optimal")
MEANS = ("sigmoid", "identity", "auto")
_ALIASES = {"learned_pixel": "learned_feature"}


def softclip(t, minimum=MIN_LOG_SIGMA):
  """Smooth lower bound: minimum + softplus(t - minimum)."""
  return minimum + tf.nn.softplus(t - minimum)


def _sigma_mode(sigma):
  """(mode, fixed sigma or None) from a number, a numeric string or a mode."""
  if isinstance(sigma, numbers.Real) and not isinstance(sigma, bool):
    value = float(sigma)
  else:
    try:
      value = float(sigma)
    except (TypeError, ValueError):
      mode = _ALIASES.get(sigma, sigma)
      if mode not in SIGMA_MODES:
        raise ValueError(
            f"sigma must be a positive number or one of "
            f"{', '.join(SIGMA_MODES)}, got {sigma!r}") from None
      return mode, None
  if not (math.isfinite(value) and value > 0):
    raise ValueError(f"sigma must be positive and finite, got {sigma!r}")
  return "fixed", value


@dataclasses.dataclass
class GaussianSettings:
  """The Gaussian's command-line settings."""

  sigma: str = option(
      "learned", "Gaussian sigma: a number (fixed; 0.7071 = the question's "
      "L2), learned | learned_channel | learned_feature (alias "
      "learned_pixel) | optimal.")
  gaussian_mean: str = option(
      "auto", "Gaussian mean: auto (sigmoid for data declared or detected in "
      "[0, 1], identity for real-valued data) | sigmoid | identity.", MEANS)


@register("gaussian")
class Gaussian(Likelihood):
  """Gaussian decoder; see the module docstring for `sigma` and `mean`.

  Args:
    sigma: a positive number (fixed) or "learned", "learned_channel",
      "learned_feature" ("learned_pixel"), "optimal".
    mean: "sigmoid" (data in [0, 1]), "identity" (real-valued data) or "auto"
      (resolved from the data's range by `VAE.fit`, or by the caller with
      `resolve_mean`).
    channels: the event's last-axis size for "learned_channel"; inferred from
      the data when None.
  """

  support = "real"
  Settings = GaussianSettings

  def __init__(self, sigma="learned", mean="auto", channels=None,
               name="likelihood", **kwargs):
    super().__init__(name=name, **kwargs)
    self.sigma_mode, self.fixed_sigma = _sigma_mode(sigma)
    self._sigma_name = sigma if isinstance(sigma, str) else None
    if mean not in MEANS:
      raise ValueError(f"mean must be one of {', '.join(MEANS)}, got {mean!r}")
    self.mean_function = mean
    self.params_per_feature = 2 if self.sigma_mode == "learned_feature" else 1
    self.channels = None
    if self.sigma_mode == "learned":
      self.raw_log_sigma = self.add_weight(
          shape=(), initializer="zeros", name="log_sigma", trainable=True)
    # The sigma used by the last training batch (for "optimal" this is what
    # the decoder uses when no data is at hand, e.g. in the `decode` export).
    self.last_log_sigma = self.add_weight(
        shape=(), initializer="zeros", name="last_log_sigma", trainable=False)
    if channels is not None:
      self.build_for((int(channels),))

  @classmethod
  def check_settings(cls, settings):
    try:
      _sigma_mode(settings.sigma)
    except ValueError as e:
      raise ConfigError(str(e), params=("sigma",)) from None

  @classmethod
  def from_settings(cls, settings, event_shape=None, data=None):
    mean = settings.gaussian_mean
    if mean == "auto":
      in_unit = data is None or getattr(data, "support", "unit") != "real"
      mean = "sigmoid" if in_unit else "identity"
    channels = None if event_shape is None else int(event_shape[-1])
    return cls(sigma=settings.sigma, mean=mean, channels=channels)

  @classmethod
  def from_description(cls, description):
    return cls(sigma=description.get("sigma", "learned"),
               mean=description.get("mean") or "sigmoid")

  def get_config(self):
    config = super().get_config()
    config.update(sigma=self.fixed_sigma if self.sigma_mode == "fixed" else
                  self._sigma_name or self.sigma_mode,
                  mean=self.mean_function, channels=self.channels)
    return config

  @classmethod
  def weighting_label(cls, settings):
    sigma = settings.get("sigma")
    if sigma in SIGMA_MODES or sigma in _ALIASES:
      return f"sigma-VAE ({sigma})"
    return None

  @classmethod
  def translator_entry(cls):
    return {"reconstruction": "sum_k (x_k - mu_k)^2 / (2 sigma^2) + K log "
                              "sigma + K/2 log 2 pi",
            "weight": "a fixed sigma is a KL weight of 2 sigma^2 on the "
                      "summed squared error; a learned sigma learns it"}

  def build_for(self, event_shape):
    channels = int(event_shape[-1])
    if self.channels is not None:
      if channels != self.channels:
        raise ValueError(f"likelihood was built for {self.channels} channels, "
                         f"the data has {channels}")
      return
    self.channels = channels
    if self.sigma_mode == "learned_channel":
      self.raw_log_sigma = self.add_weight(
          shape=(channels,), initializer="zeros", name="log_sigma_channel",
          trainable=True)

  @property
  def logit_params(self):
    """True when the decoder's output goes through a sigmoid here."""
    return self.mean_function == "sigmoid"

  def check_data(self, x, argument="x"):
    """Data in [0, 1] for a sigmoid mean (it cannot reach other values)."""
    if self.mean_function != "sigmoid":
      return []
    low, high = float(np.min(x)), float(np.max(x))
    if low < 0.0 or high > 1.0:
      raise data_error(
          argument, f"Gaussian(mean='sigmoid') models values in [0, 1], got "
          f"values in [{low:g}, {high:g}]; use mean='identity' (or 'auto') "
          "for real-valued data, or divide uint8 images by 255")
    return []

  def resolve_mean(self, unit_interval: bool) -> str:
    """Fixes mean="auto": sigmoid for data in [0, 1], else identity."""
    if self.mean_function == "auto":
      self.mean_function = "sigmoid" if unit_interval else "identity"
    return self.mean_function

  def _loc(self, params):
    if self.mean_function == "auto":
      raise ValueError(
          "Gaussian(mean='auto') is resolved from the data by VAE.fit; "
          "before that pass mean='sigmoid' (data in [0, 1]) or "
          "mean='identity' (real-valued data)")
    loc = params
    if self.params_per_feature == 2:
      loc = params[..., :tf.shape(params)[-1] // 2]
    return tf.sigmoid(loc) if self.mean_function == "sigmoid" else loc

  def log_sigma(self, loc, x=None, params=None):
    """log sigma, broadcastable to `loc`."""
    if self.sigma_mode == "fixed":
      return tf.constant(math.log(self.fixed_sigma), loc.dtype)
    if self.sigma_mode in ("learned", "learned_channel"):
      return softclip(tf.cast(self.raw_log_sigma, loc.dtype))
    if self.sigma_mode == "learned_feature":
      return softclip(params[..., tf.shape(params)[-1] // 2:])
    if x is None:
      return tf.cast(self.last_log_sigma, loc.dtype)
    # The global batch's MSE, also when tf.distribute splits the batch.
    mse = elbo.global_batch_mean(tf.square(x - loc))
    return tf.maximum(0.5 * tf.math.log(mse), MIN_LOG_SIGMA)

  def loc_and_log_scale(self, params, x=None):
    loc = self._loc(params)
    return loc, self.log_sigma(loc, x, params)

  def distribution(self, params, x=None):
    loc, log_sigma = self.loc_and_log_scale(params, x)
    return tfd.Normal(loc=loc, scale=tf.exp(log_sigma))

  def mean(self, params, x=None):
    return self._loc(params)

  def sigma_tensor(self, params, x=None):
    _, log_sigma = self.loc_and_log_scale(params, x)
    return elbo.global_batch_mean(tf.exp(log_sigma))

  def serving_outputs(self, params):
    loc, log_sigma = self.loc_and_log_scale(params)
    return {"mean": self.mean(params), "params": params,
            "scale": tf.broadcast_to(tf.exp(log_sigma), tf.shape(loc))}

  def serving_log_likelihood(self, x, decoded):
    # A shared (learned or fitted) sigma is not among the decoder's
    # parameters: take it from `decode`'s `scale` output.
    if self.sigma_mode in ("fixed", "learned_feature"):
      return super().serving_log_likelihood(x, decoded)
    nll = -tfd.Normal(self.mean(decoded["params"]),
                      decoded["scale"]).log_prob(x)
    return -elbo.reduce_features(nll, "sum")

  def served_log_likelihood(self, x, params):
    # Without the batch: the optimal sigma is the last training batch's.
    return -elbo.reduce_features(-self.distribution(params).log_prob(x),
                                 "sum")

  @property
  def shares_one_sigma(self):
    return self.sigma_mode not in ("learned_channel", "learned_feature")

  def shared_sigma2(self, params=None, x=None):
    """sigma^2 when one sigma is shared by all features (fixed, learned,
    optimal), else None: the Gaussian whose KL weight has L2 units."""
    if self.sigma_mode in ("learned_channel", "learned_feature"):
      return None
    if self.sigma_mode == "fixed":
      return self.fixed_sigma**2
    if self.sigma_mode == "learned":
      return float(tf.exp(2.0 * softclip(self.raw_log_sigma)).numpy())
    return float(tf.exp(2.0 * self.last_log_sigma).numpy())

  def describe(self):
    sigma = (self.fixed_sigma if self.sigma_mode == "fixed" else
             self._sigma_name or self.sigma_mode)
    return {"likelihood": "gaussian", "sigma": sigma,
            "mean": self.mean_function}
