"""Discretised logistic mixture and discretised Gaussian decoders, n-bit data.

Data are n-bit levels k in {0, ..., L}, L = 2^n - 1, given as the other image
likelihoods take them: x = k / L in [0, 1]. The density works where the
reference code does, on y = 2 x - 1 in [-1, 1], so a bin is [y - h, y + h]
with h = 1 / L (bin width 2 / L; 2 / 255 for 8 bits), and the two edge bins
are open: level 0 takes (-inf, -1 + h], level L takes [1 - h, inf). Then

    P(k) = F((y + h - mu) / s) - F((y - h - mu) / s)   (0 < k < L)
    P(0) = F((-1 + h - mu) / s),   P(L) = 1 - F((1 - h - mu) / s)

with F the logistic or the standard normal CDF, so sum_k P(k) = 1 exactly.

- `DiscretizedLogistic` (`"discretized_logistic"`): a mixture of M logistics
  per subpixel, P(k) = sum_m pi_m P_m(k) (Salimans, Karpathy, Chen & Kingma
  2017, "PixelCNN++", eq. 2; openai/vdvae `discretized_mix_logistic_loss`,
  NVlabs/NVAE `DiscMixLogistic`), M = `num_mixtures` (10 in PixelCNN++,
  VDVAE and NVAE). Each channel has its own mixture, independent of the
  other channels given z (PixelCNN++'s linear channel-autoregressive
  coefficients are not used: a VAE decoder predicts all channels at once).
  The last axis of the decoder output holds, for C channels,
  [logits (C M) | means (C M) | log scales (C M)], each read as [..., C, M].
- `DiscretizedGaussian` (`"discretized_gaussian"`): one Normal per subpixel
  binned the same way (NVAE's `NormalDecoder(num_bits)`); decoder output
  [means (C) | log scales (C)].

Means mu are in the [-1, 1] units of y, log scales are floored at -7 as in
PixelCNN++ and VDVAE (`max(log_scale, -7)`: the half-bin 1 / 255 is then
>= 4.3 scales, so a bin can hold all its mass).

The NLL is in nats per subpixel of a *discrete* distribution (>= 0), so
bits/dim = NLL / ln 2 is the literature's bits per n-bit subpixel (CIFAR-10:
PixelCNN++ 2.92, VDVAE 2.87, NVAE 2.91).

Numerics (float32). TFP's `tfd.QuantizedDistribution` over a shifted
`tfd.Logistic` (what `tfd.PixelCNN` uses) computes log(F(a) - F(b)) from two
log-CDFs; measured against float64 over all 256 levels, its relative error
grows with the scale: 5e-6 at log s = -1, 4e-5 at 2, 2.5e-4 at 4 (log s in
the [-1, 1] units below), where the form here stays at 1e-7. At the smallest
scales both are limited by y itself: float32 y carries ~2e-8, which a scale
of e^-7 magnifies to a relative ~1e-5 in log P. PixelCNN++ itself subtracts
the CDFs and falls back to the bin's midpoint density when the difference is
below 1e-5 (an approximation). Here the logistic bin is written exactly and
stably: with a - b = 2 h / s,

    sigmoid(a) - sigmoid(b) = sigmoid(a) sigmoid(-b) (1 - exp(-(a - b))),
    log P(k) = -softplus(-a) - softplus(b) + log(-expm1(-(a - b))),

finite for every a, b with finite gradients. For the Normal, the bin is moved
to the lower tail (P[b, a] = P[-a, -b]) and
log P = log Phi(a) + log(-expm1(log Phi(b) - log Phi(a))); where the bin is
narrow against the scale (d (1 + |m|) < 0.5, d = a - b, m = (a + b) / 2) the
difference of log-CDFs would lose digits, and the midpoint rule to fourth
order is used instead, log P = log phi(m) + log d +
log1p(d^2 (m^2 - 1) / 24 + d^4 (m^4 - 6 m^2 + 3) / 1920) (the Taylor series
of the integral of phi over the bin; the next term is below 1e-7).

`distribution()` still returns TFP's distribution over the levels k (for
draws and for users; its `log_prob` takes levels, not x); `nll` is the stable
form above. `check_data` refuses values off the n-bit grid.
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.errors import ConfigError
from tfvae.likelihoods.base import Likelihood
from tfvae.likelihoods.base import data_error
from tfvae.likelihoods.base import register
from tfvae.settings import option

tfd = tfp.distributions
tfb = tfp.bijectors

MIN_LOG_SCALE = -7.0
MAX_BITS = 16
# A value is on the grid when it is within this of k / L (data units).
GRID_TOLERANCE = 1e-4
# Midpoint rule for the Normal bin where d (1 + |m|) is below this.
_NARROW_BIN = 0.5


def _num_bits_help():
  return (f"discretised likelihoods: bits per subpixel n; data hold levels "
          f"k / (2^n - 1) in [0, 1]; 1 <= n <= {MAX_BITS}.")


@dataclasses.dataclass
class DiscretizedLogisticSettings:
  """The discretised logistic mixture's command-line settings."""

  num_mixtures: int = option(
      10, "discretised logistic: mixture components per subpixel (10 in "
      "PixelCNN++, VDVAE and NVAE).")
  num_bits: int = option(8, _num_bits_help())


@dataclasses.dataclass
class DiscretizedGaussianSettings:
  """The discretised Gaussian's command-line settings."""

  num_bits: int = option(8, _num_bits_help())


def _check_int(name, value, low, high):
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
      or not low <= value <= high:
    raise ConfigError(f"{name} must be an integer in [{low}, {high}], got "
                      f"{value!r}", params=(name,))
  return int(value)


# ---------------------------------------------------------------- the math


def _log_ndtr(x):
  """log Phi(x), stable in both tails (TFP's log_ndtr behind Normal.log_cdf)."""
  return tfd.Normal(tf.constant(0.0, x.dtype), 1.0).log_cdf(x)


def _bin_edges(levels, loc, log_scale, max_level):
  """(a, b, d): the bin's standardised upper and lower edges and a - b."""
  log_scale = tf.maximum(log_scale, MIN_LOG_SCALE)
  inv_scale = tf.exp(-log_scale)
  half = 1.0 / max_level
  # (2 k - L) / L is exact to a relative 2^-24; 2 k / L - 1 would lose the
  # digits that a small scale then magnifies.
  centred = (2.0 * levels - max_level) / max_level - loc
  width = tf.maximum(2.0 * half * inv_scale, 1e-30)
  return (centred + half) * inv_scale, (centred - half) * inv_scale, width


def logistic_bin_log_prob(levels, loc, log_scale, max_level):
  """log P(k) of a binned logistic (module docstring), elementwise.

  Args:
    levels: the levels k as floats in {0, ..., max_level}.
    loc, log_scale: the logistic's mean and log scale in [-1, 1] units.
    max_level: L = 2^n - 1.
  """
  a, b, width = _bin_edges(levels, loc, log_scale, max_level)
  interior = (-tf.nn.softplus(-a) - tf.nn.softplus(b) +
              tf.math.log(-tf.math.expm1(-width)))
  return tf.where(levels < 0.5, -tf.nn.softplus(-a),
                  tf.where(levels > max_level - 0.5, -tf.nn.softplus(b),
                           interior))


def normal_bin_log_prob(levels, loc, log_scale, max_level):
  """log P(k) of a binned Normal (module docstring), elementwise."""
  a, b, width = _bin_edges(levels, loc, log_scale, max_level)
  flip = a + b > 0.0
  high = tf.where(flip, -b, a)
  low = tf.where(flip, -a, b)
  log_high = _log_ndtr(high)
  middle = 0.5 * (high + low)
  narrow = width * (1.0 + tf.abs(middle)) < _NARROW_BIN
  # Both branches stay finite everywhere, so tf.where passes finite gradients.
  gap = tf.where(narrow, -1.0,
                 tf.minimum(_log_ndtr(low) - log_high, -1e-30))
  exact = log_high + tf.math.log(-tf.math.expm1(gap))
  width2, middle2 = tf.square(width), tf.square(middle)
  series = (width2 * (middle2 - 1.0) / 24.0 + tf.square(width2) *
            (tf.square(middle2) - 6.0 * middle2 + 3.0) / 1920.0)
  midpoint = (-0.5 * middle2 - 0.5 * math.log(2.0 * math.pi) +
              tf.math.log(width) + tf.math.log1p(series))
  interior = tf.where(narrow, midpoint, exact)
  return tf.where(levels < 0.5, _log_ndtr(a),
                  tf.where(levels > max_level - 0.5, _log_ndtr(-b),
                           interior))


def _binned(distribution, max_level):
  """TFP's distribution over the levels of `distribution` (in level units),
  the bin of k being (k - 1/2, k + 1/2], edge bins open."""
  return tfd.QuantizedDistribution(
      tfd.TransformedDistribution(distribution, tfb.Shift(
          tf.constant(-0.5, distribution.dtype))),
      low=tf.constant(0.0, distribution.dtype),
      high=tf.constant(float(max_level), distribution.dtype))


# ---------------------------------------------------------------- families


class _Discretized(Likelihood):
  """What both binned families share: the n-bit grid and its data check."""

  support = "levels"

  def __init__(self, num_bits=8, name="likelihood", **kwargs):
    super().__init__(name=name, **kwargs)
    self.num_bits = _check_int("num_bits", num_bits, 1, MAX_BITS)
    self.max_level = 2**self.num_bits - 1

  @classmethod
  def check_settings(cls, settings):
    _check_int("num_bits", settings.num_bits, 1, MAX_BITS)

  def get_config(self):
    config = super().get_config()
    config.update(num_bits=self.num_bits)
    return config

  def check_data(self, x, argument="x"):
    x = np.asarray(x, np.float64)
    levels = f"levels k / {self.max_level} of {self.num_bits}-bit data"
    if not np.all(np.isfinite(x)):
      raise data_error(argument, f"the {self.likelihood_name} likelihood "
                       f"needs {levels}; the data hold NaN or inf")
    if x.size and (x.min() < 0.0 or x.max() > 1.0):
      raise data_error(
          argument, f"the {self.likelihood_name} likelihood needs {levels} "
          f"in [0, 1], the data range over [{x.min():g}, {x.max():g}]: uint8 "
          f"images: divide by 255; standardised data need "
          f"--likelihood=gaussian")
    tolerance = min(GRID_TOLERANCE, 0.25 / self.max_level)
    off = np.abs(x * self.max_level - np.round(x * self.max_level))
    bad = int(np.sum(off > tolerance * self.max_level))
    if bad:
      raise data_error(
          argument, f"the {self.likelihood_name} likelihood needs {levels}; "
          f"{bad} of {x.size} values are off that grid: uint8 images: divide "
          f"by 255 (not by 256); {self.num_bits}-bit data: divide by "
          f"{self.max_level}; other bit depths: set num_bits; continuous "
          f"values need --likelihood=gaussian or beta")
    return []

  def levels(self, x):
    """The levels k (floats) of data x in [0, 1]."""
    x = tf.convert_to_tensor(x, tf.float32)
    return tf.clip_by_value(tf.round(x * self.max_level), 0.0,
                            float(self.max_level))

  def to_level_units(self, loc, log_scale):
    """(loc, scale) in level units from [-1, 1] units (for TFP)."""
    log_scale = tf.maximum(log_scale, MIN_LOG_SCALE)
    half_range = 0.5 * self.max_level
    return (loc + 1.0) * half_range, tf.exp(log_scale) * half_range

  def sample(self, params, seed=None):
    levels = self.distribution(params).sample(seed=seed)
    return tf.cast(levels, tf.float32) / self.max_level

  @classmethod
  def translator_entry(cls):
    return {"reconstruction": "-sum_k log P(level of x_k), nats: the "
                              "probability of the observed n-bit levels "
                              "(>= 0; bits/dim = NLL / (K ln 2))",
            "weight": "beta_eff: the weight on the summed KL per nat of "
                      "summed NLL (1 = the ELBO, whose bits/dim compares with "
                      "the literature's); the scales are learned, so no "
                      "fixed scale plays the weight's role"}


@register("discretized_logistic")
class DiscretizedLogistic(_Discretized):
  """Discretised mixture of logistics per subpixel; see the module docstring.

  Args:
    num_mixtures: components M per subpixel.
    num_bits: bits n per subpixel; data hold k / (2^n - 1).
  """

  Settings = DiscretizedLogisticSettings
  description_keys = ("num_mixtures", "num_bits")

  def __init__(self, num_mixtures=10, num_bits=8, name="likelihood",
               **kwargs):
    super().__init__(num_bits=num_bits, name=name, **kwargs)
    self.num_mixtures = _check_int("num_mixtures", num_mixtures, 1, 1024)
    self.params_per_feature = 3 * self.num_mixtures

  @classmethod
  def check_settings(cls, settings):
    super().check_settings(settings)
    _check_int("num_mixtures", settings.num_mixtures, 1, 1024)

  @classmethod
  def from_settings(cls, settings, event_shape=None, data=None):
    del event_shape, data
    return cls(num_mixtures=settings.num_mixtures, num_bits=settings.num_bits)

  def get_config(self):
    config = super().get_config()
    config.update(num_mixtures=self.num_mixtures)
    return config

  def components(self, params):
    """(logits, loc, log_scale), each [..., C, M], from [..., 3 C M]."""
    params = tf.convert_to_tensor(params, tf.float32)
    m = self.num_mixtures
    channels = tf.shape(params)[-1] // (3 * m)
    shape = tf.concat([tf.shape(params)[:-1], [channels, m]], axis=0)
    logits, loc, log_scale = tf.split(params, 3, axis=-1)
    return (tf.reshape(logits, shape), tf.reshape(loc, shape),
            tf.reshape(log_scale, shape))

  def nll(self, x, params):
    logits, loc, log_scale = self.components(params)
    levels = self.levels(x)[..., tf.newaxis]
    log_prob = logistic_bin_log_prob(levels, loc, log_scale, self.max_level)
    return -tf.reduce_logsumexp(log_prob + tf.nn.log_softmax(logits), axis=-1)

  def distribution(self, params, x=None):
    """TFP's mixture over the levels k in {0, ..., 2^n - 1} (not x / L)."""
    del x
    logits, loc, log_scale = self.components(params)
    loc, scale = self.to_level_units(loc, log_scale)
    return tfd.MixtureSameFamily(
        tfd.Categorical(logits=logits),
        _binned(tfd.Logistic(loc=loc, scale=scale), self.max_level))

  def mean(self, params, x=None):
    """The continuous mixture's mean sum_m pi_m mu_m, mapped to [0, 1] and
    clipped (the edge bins' mass makes the levels' mean differ slightly)."""
    logits, loc, _ = self.components(params)
    mixture_mean = tf.reduce_sum(tf.nn.softmax(logits) * loc, axis=-1)
    return tf.clip_by_value(0.5 * (mixture_mean + 1.0), 0.0, 1.0)


@register("discretized_gaussian")
class DiscretizedGaussian(_Discretized):
  """One binned Normal per subpixel; see the module docstring.

  Args:
    num_bits: bits n per subpixel; data hold k / (2^n - 1).
  """

  Settings = DiscretizedGaussianSettings
  description_keys = ("num_bits",)
  params_per_feature = 2

  @classmethod
  def from_settings(cls, settings, event_shape=None, data=None):
    del event_shape, data
    return cls(num_bits=settings.num_bits)

  def loc_and_log_scale(self, params):
    """(loc, log_scale) in [-1, 1] units, each [..., C], from [..., 2 C]."""
    params = tf.convert_to_tensor(params, tf.float32)
    loc, log_scale = tf.split(params, 2, axis=-1)
    return loc, tf.maximum(log_scale, MIN_LOG_SCALE)

  def nll(self, x, params):
    loc, log_scale = self.loc_and_log_scale(params)
    return -normal_bin_log_prob(self.levels(x), loc, log_scale,
                                self.max_level)

  def distribution(self, params, x=None):
    """TFP's binned Normal over the levels k in {0, ..., 2^n - 1}."""
    del x
    loc, scale = self.to_level_units(*self.loc_and_log_scale(params))
    return _binned(tfd.Normal(loc=loc, scale=scale), self.max_level)

  def mean(self, params, x=None):
    """The Normal's mean mapped to [0, 1] and clipped."""
    loc, _ = self.loc_and_log_scale(params)
    return tf.clip_by_value(0.5 * (loc + 1.0), 0.0, 1.0)
