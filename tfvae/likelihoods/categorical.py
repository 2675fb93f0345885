"""The categorical decoder: integer class or token ids, softmax over V classes.

p(x|z) = prod_k Categorical(x_k; softmax(l_k)), for ids x_k in {0, ..., V-1}
and decoder logits l_k in R^V, so

    NLL_k = -log softmax(l_k)[x_k] = logsumexp(l_k) - l_k[x_k]

(the softmax cross-entropy; the "categorical for multi-class" of the
question's answers). Text VAEs sum it over the real tokens of a sentence and
leave padding out (Bowman et al. 2016, "Generating Sentences from a
Continuous Space"; timbmg/Sentence-VAE's `NLLLoss(ignore_index=pad,
reduction='sum')`; texar's `sequence_sparse_softmax_cross_entropy`): with
`mask_value` set, positions holding that id add 0 to the distortion and are
not counted by `feature_count`, so per-token numbers divide by real tokens:

    perplexity = exp(sum_i NLL_i / sum_i T_i),  T_i = real tokens of x_i

(texar's per-token perplexity; with the -ELBO in place of the NLL it is an
upper bound on the model's perplexity).

The ids reach the likelihood as float32 (exact below 2^24) and are cast to
int32 here. The decoder emits one more axis than the event: events [T] (a
sentence) or [D] (D class columns) take logits [T, V] or [D, V].
`mean` is the most likely id (the mode, argmax of the logits): ids have no
mean. `sample` draws ids. The distribution is `tfd.Categorical(logits=...)`.
"""

import dataclasses
from typing import Optional

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.errors import ConfigError
from tfvae.likelihoods.base import Likelihood
from tfvae.likelihoods.base import data_error
from tfvae.likelihoods.base import register
from tfvae.settings import option

tfd = tfp.distributions


@dataclasses.dataclass
class CategoricalSettings:
  """The categorical family's command-line settings."""

  num_classes: Optional[int] = option(
      None, "Categorical: the number of classes V (token ids 0..V-1); unset: "
      "the data set's num_classes, else the largest id + 1.")
  mask_value: Optional[int] = option(
      None, "Categorical: the padding id, left out of the NLL and of the "
      "per-token counts; unset: the data set's pad_id (sentences: 0), else no "
      "padding.")


def _check_int(name, value, minimum=None):
  if value is None:
    return
  if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
    raise ConfigError(f"{name} must be an integer or None, got {value!r}",
                      params=(name,))
  if minimum is not None and value < minimum:
    raise ConfigError(f"{name} must be >= {minimum}, got {value!r}",
                      params=(name,))


@keras.saving.register_keras_serializable(package="tfvae.likelihoods")
class OneHotIds(keras.layers.Layer):
  """float or int ids [..., K] -> one-hot float32 [..., K, V]; the padding id
  (`mask_value`) maps to a row of zeros. The input of tfvae's built-in mlp
  networks for categorical data."""

  def __init__(self, num_classes, mask_value=None, **kwargs):
    super().__init__(**kwargs)
    self.num_classes = int(num_classes)
    self.mask_value = None if mask_value is None else int(mask_value)

  def call(self, x):
    ids = tf.cast(x, tf.int32)
    one_hot = tf.one_hot(ids, self.num_classes, dtype=tf.float32)
    if self.mask_value is not None:
      one_hot *= tf.cast(ids != self.mask_value, tf.float32)[..., None]
    return one_hot

  def compute_output_shape(self, input_shape):
    return tuple(input_shape) + (self.num_classes,)

  def get_config(self):
    config = super().get_config()
    config.update(num_classes=self.num_classes, mask_value=self.mask_value)
    return config


@register("categorical")
class Categorical(Likelihood):
  """Categorical decoder on logits; see the module docstring.

  Args:
    num_classes: V, the number of classes (ids 0..V-1). Needed before the
      decoder is built (`params_shape`); `from_settings` takes it from the
      data when unset.
    mask_value: the padding id (any integer, inside [0, V) or not, e.g. -1),
      or None for no padding.
  """

  support = "classes"
  Settings = CategoricalSettings
  description_keys = ("num_classes", "mask_value")

  def __init__(self, num_classes=None, mask_value=None, name="likelihood",
               **kwargs):
    super().__init__(name=name, **kwargs)
    _check_int("num_classes", num_classes, minimum=2)
    _check_int("mask_value", mask_value)
    self.num_classes = None if num_classes is None else int(num_classes)
    self.mask_value = None if mask_value is None else int(mask_value)

  # ----------------------------------------------------------- building

  @classmethod
  def check_settings(cls, settings):
    super().check_settings(settings)
    _check_int("num_classes", settings.num_classes, minimum=2)
    _check_int("mask_value", settings.mask_value)

  @classmethod
  def from_settings(cls, settings, event_shape=None, data=None):
    del event_shape
    cls.check_settings(settings)
    num_classes = settings.num_classes
    if num_classes is None and data is not None:
      num_classes = getattr(data, "num_classes", None)
      if num_classes is None:
        arrays = [a for a in (getattr(data, "train", None),
                              getattr(data, "validation", None))
                  if a is not None and np.size(a)]
        if arrays:
          ids = np.concatenate([np.ravel(a) for a in arrays])
          if settings.mask_value is not None:
            ids = ids[ids != settings.mask_value]
          if ids.size:
            num_classes = max(2, int(np.max(ids)) + 1)
    if num_classes is None:
      raise ConfigError("num_classes must be set for the categorical "
                        "likelihood when the data do not give it",
                        params=("num_classes",))
    mask_value = settings.mask_value
    if mask_value is None and data is not None:
      # Token sequences name their padding id.
      mask_value = getattr(data, "pad_id", None)
    return cls(num_classes=int(num_classes), mask_value=mask_value)

  def get_config(self):
    config = super().get_config()
    config.update(num_classes=self.num_classes, mask_value=self.mask_value)
    return config

  @classmethod
  def translator_entry(cls):
    return {"reconstruction": "sum over real tokens of -log softmax(logits)"
                              "[x] (the summed cross-entropy, padding "
                              "masked)",
            "weight": "beta_eff: the weight on the summed KL per nat of "
                      "summed cross-entropy (1 = the ELBO; Bowman et al. "
                      "anneal it from 0 to 1)"}

  # ------------------------------------------------------------- shapes

  def _classes(self):
    if self.num_classes is None:
      raise ValueError("Categorical(num_classes=None): set num_classes (the "
                       "vocabulary size V) before building a decoder")
    return self.num_classes

  def params_shape(self, event_shape):
    return tuple(int(d) for d in event_shape) + (self._classes(),)

  def params_channels(self, channels):
    return int(channels) * self._classes()

  def input_layer(self):
    return OneHotIds(self._classes(), self.mask_value, name="one_hot_ids")

  # ---------------------------------------------------------------- data

  def check_data(self, x, argument="x"):
    values = np.asarray(x)
    if values.size == 0:
      return []
    if not (np.issubdtype(values.dtype, np.number) or
            values.dtype == np.bool_):
      raise data_error(argument, f"expected integer ids, got dtype "
                                 f"{values.dtype}")
    if not np.all(np.isfinite(values)):
      raise data_error(argument, "contains NaN or infinite values; expected "
                                 "integer ids")
    if np.any(values != np.round(values)):
      bad = values[values != np.round(values)].flat[0]
      raise data_error(argument, f"expected integer ids, got the non-integer "
                                 f"value {bad!r} (ids are class indices, not "
                                 f"scores or one-hot rows)")
    ids = values.astype(np.int64)
    real = ids if self.mask_value is None else ids[ids != self.mask_value]
    if real.size:
      low, high = int(real.min()), int(real.max())
      if low < 0 or (self.num_classes is not None and
                     high >= self.num_classes):
        top = "" if self.num_classes is None else f", {self.num_classes}"
        pad = ("" if self.mask_value is None else
               f" (or the padding id {self.mask_value})")
        raise data_error(argument, f"ids must lie in [0{top}){pad}, got "
                                   f"values in [{low}, {high}]")
    return []

  # ------------------------------------------------------------ density

  def _ids_and_real(self, x):
    """int32 ids with padding replaced by 0 (a valid class) and the float32
    mask of real positions (None without padding)."""
    ids = tf.cast(x, tf.int32)
    if self.mask_value is None:
      return ids, None
    real = tf.not_equal(ids, self.mask_value)
    return tf.where(real, ids, tf.zeros_like(ids)), real

  def distribution(self, params, x=None):
    del x
    return tfd.Categorical(logits=tf.cast(params, tf.float32))

  def nll(self, x, params):
    ids, real = self._ids_and_real(x)
    nll = -self.distribution(params).log_prob(ids)
    if real is None:
      return nll
    return tf.where(real, nll, tf.zeros_like(nll))

  def feature_count(self, x):
    ids = tf.cast(x, tf.int32)
    if self.mask_value is None:
      return super().feature_count(x)
    real = tf.cast(tf.not_equal(ids, self.mask_value), tf.float32)
    return tf.reduce_sum(tf.reshape(real, [tf.shape(real)[0], -1]), axis=1)

  def mean(self, params, x=None):
    """The most likely id (argmax of the logits) as float32: the mode, as ids
    have no mean."""
    del x
    return tf.cast(tf.argmax(params, axis=-1, output_type=tf.int32),
                   tf.float32)

  def sample(self, params, seed=None):
    return tf.cast(self.distribution(params).sample(seed=seed), tf.float32)
