"""Beta decoder for data in the open interval (0, 1).

p(x|z) = prod_k Beta(x_k; a_k, b_k),

    log Beta(x; a, b) = (a - 1) log x + (b - 1) log(1 - x) - log B(a, b),
    B(a, b) = Gamma(a) Gamma(b) / Gamma(a + b),

through `tfd.Beta(concentration1=a, concentration0=b)`. The decoder emits two
numbers per feature, [..., 2 C] on the last axis: the pre-activations of a
(first half, `concentration1`) and of b (second half, `concentration0`);
a = softplus(p_a) + 1e-3 and b = softplus(p_b) + 1e-3 (the floor keeps the
log-normaliser finite when a pre-activation goes far negative). The mean is
a / (a + b).

A normalised density on (0, 1) for grey levels, the alternative to the
continuous Bernoulli that the continuous Bernoulli's authors compare with
(Loaiza-Ganem & Cunningham, NeurIPS 2019, "The continuous Bernoulli: fixing a
pervasive error in variational autoencoders").

Pitfalls:

- The density is 0 or infinite at x = 0 and x = 1, where image data pile up
  (black background, saturated pixels). Like the authors' Beta VAE
  (cunningham-lab/cb_and_cc, `cb/beta_distr_vae_mnist.ipynb`), x is clipped to
  [clip, 1 - clip] first (in float32: 1 - 1e-4 is 0.99989998 there),
  clip = 1e-4 by default (`beta_clip`). The clipped
  value is what is scored, so a boundary pixel's NLL depends on `clip`: the NLL
  of data with many 0 / 1 values is not comparable across clips, and can be
  very negative (a Beta with a < 1 puts unbounded density near 0).
- The NLL is a density's, in nats per feature: it is not comparable with a
  Bernoulli's or a discretised likelihood's (probabilities of levels).
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

# Added to softplus of the pre-activations: the smallest concentration.
CONCENTRATION_FLOOR = 1e-3
DEFAULT_CLIP = 1e-4


@dataclasses.dataclass
class BetaSettings:
  """The Beta's command-line settings."""

  beta_clip: float = option(
      DEFAULT_CLIP, "Beta likelihood: data are clipped to [beta_clip, "
      "1 - beta_clip] before scoring (the density is 0 or infinite at 0 and "
      "1); 0 < beta_clip < 0.5.")


def _check_clip(clip, name="beta_clip"):
  if isinstance(clip, bool) or not isinstance(clip, (int, float, np.floating)) \
      or not (math.isfinite(clip) and 0.0 < clip < 0.5):
    raise ConfigError(f"{name} must be a number in (0, 0.5), got {clip!r}",
                      params=(name,))
  return float(clip)


@register("beta")
class Beta(Likelihood):
  """Beta decoder on (0, 1); see the module docstring.

  Args:
    clip: x is clipped to [clip, 1 - clip] before scoring, 0 < clip < 0.5.
  """

  support = "open_unit"
  params_per_feature = 2
  Settings = BetaSettings
  description_keys = ("clip",)

  def __init__(self, clip=DEFAULT_CLIP, name="likelihood", **kwargs):
    super().__init__(name=name, **kwargs)
    self.clip = _check_clip(clip, "clip")

  @classmethod
  def check_settings(cls, settings):
    _check_clip(settings.beta_clip)

  @classmethod
  def from_settings(cls, settings, event_shape=None, data=None):
    del event_shape, data
    return cls(clip=settings.beta_clip)

  def get_config(self):
    config = super().get_config()
    config.update(clip=self.clip)
    return config

  @classmethod
  def translator_entry(cls):
    return {"reconstruction": "-sum_k log Beta(clip(x_k); a_k, b_k), nats "
                              "(a density: it may be negative)",
            "weight": "beta_eff: the weight on the summed KL per nat of the "
                      "summed Beta NLL (1 = the ELBO); no fixed scale plays "
                      "the weight's role, the concentrations are learned"}

  # ---------------------------------------------------------------- data

  def check_data(self, x, argument="x"):
    x = np.asarray(x)
    if not np.all(np.isfinite(x)):
      raise data_error(argument, "the Beta likelihood needs finite values in "
                       "[0, 1]; the data hold NaN or inf")
    if x.size and (x.min() < 0.0 or x.max() > 1.0):
      raise data_error(
          argument, f"the Beta likelihood models values in (0, 1), the data "
          f"range over [{x.min():g}, {x.max():g}]: divide uint8 images by "
          f"255; standardised data need --likelihood=gaussian")
    warnings = []
    edge = int(np.sum((x < self.clip) | (x > 1.0 - self.clip)))
    if edge:
      warnings.append(
          f"{argument}: {edge} of {x.size} values lie within {self.clip:g} of "
          f"0 or 1 and are scored at [{self.clip:g}, {1 - self.clip:g}] (the "
          f"Beta density is 0 or infinite at the ends)")
    return warnings

  # ------------------------------------------------------------ density

  def concentrations(self, params):
    """(concentration1, concentration0), each [..., C], from [..., 2 C]."""
    params = tf.convert_to_tensor(params)
    half = tf.shape(params)[-1] // 2
    floor = tf.constant(CONCENTRATION_FLOOR, params.dtype)
    return (tf.nn.softplus(params[..., :half]) + floor,
            tf.nn.softplus(params[..., half:]) + floor)

  def clip_data(self, x):
    """x clipped to [clip, 1 - clip], the values the density scores."""
    return tf.clip_by_value(x, self.clip, 1.0 - self.clip)

  def distribution(self, params, x=None):
    del x
    concentration1, concentration0 = self.concentrations(params)
    return tfd.Beta(concentration1=concentration1,
                    concentration0=concentration0)

  def nll(self, x, params):
    x = tf.convert_to_tensor(x, tf.float32)
    return -self.distribution(params).log_prob(self.clip_data(x))

  def mean(self, params, x=None):
    concentration1, concentration0 = self.concentrations(params)
    return concentration1 / (concentration1 + concentration0)
