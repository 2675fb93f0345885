"""Free bits: a per-dimension floor on the KL term of the objective.

With KL_ij the KL divergence of example i and latent dimension j (nats) and
lambda the free bits per dimension:

- batch mode (Kingma et al. 2016, "Improved Variational Inference with Inverse
  Autoregressive Flow", appendix C.8): the batch mean is taken before the
  clamp,
      KL_fb = sum_j max(lambda, mean_i KL_ij).
  A dimension whose batch-mean KL is below lambda gets no gradient from the
  KL term, so the encoder may use it "for free" up to lambda nats.
- example mode (Li et al. 2019, "A Surprisingly Effective Fix for Deep Latent
  Variable Modeling of Text", KL thresholding): clamp per example and
  dimension,
      KL_fb = mean_i sum_j max(lambda, KL_ij).

The clamped value is only for the objective; the caller reports the ELBO with
the unclamped KL.

At a tie (KL exactly lambda) the gradient flows to the KL: `tf.maximum(x, y)`
sends the gradient to x where x >= y, and the KL is passed as x. So
`free_bits=0` gives exactly the plain KL sum and its gradient.

The clamp is non-linear, so batch mode cannot be rewritten as a sum of
per-example losses: under `tf.distribute` the caller passes the global
batch's mean KL as one row (`tfvae.models.vae` does), which every replica
clamps alike.
"""

import math
import numbers

import keras
import tensorflow as tf

from tfvae.balancing.base import Balancer
from tfvae.balancing.base import register
from tfvae.errors import ConfigError
from tfvae.objectives import elbo

FREE_BITS_MODES = ("batch", "example")


def free_bits_kl(kl_per_example_dim, free_bits, mode="batch") -> tf.Tensor:
  """The free-bits KL term to optimise, a scalar in nats per example.

  Args:
    kl_per_example_dim: [batch, J] KL per example and latent dimension, nats.
    free_bits: lambda >= 0, the floor per dimension in nats (Kingma et al.
      use 0.25).
    mode: "batch" (floor on the batch mean of each dimension) or "example"
      (floor on each example and dimension).

  Returns:
    A scalar tensor in the dtype of `kl_per_example_dim`.

  Raises:
    ConfigError: `free_bits` is negative or not finite, `mode` is unknown or
      the input is not of rank 2.
  """
  if (not isinstance(free_bits, numbers.Real) or isinstance(free_bits, bool)
      or not math.isfinite(free_bits) or free_bits < 0):
    raise ConfigError(
        f"free_bits must be a finite number >= 0 nats, got {free_bits!r}.")
  if mode not in FREE_BITS_MODES:
    raise ConfigError(f"free bits mode must be one of "
                      f"{', '.join(FREE_BITS_MODES)}, got {mode!r}.")
  kl = tf.convert_to_tensor(kl_per_example_dim)
  if kl.shape.rank is not None and kl.shape.rank != 2:
    raise ConfigError(f"free_bits_kl needs KL of shape [batch, J], got shape "
                      f"{kl.shape}.")
  floor = tf.constant(free_bits, kl.dtype)
  if mode == "batch":
    # KL first so that ties pass the gradient (see the module docstring).
    return tf.reduce_sum(tf.maximum(tf.reduce_mean(kl, axis=0), floor))
  return tf.reduce_mean(tf.reduce_sum(tf.maximum(kl, floor), axis=1))


def free_bits_per_example(kl_per_dim, free_bits, mode="batch") -> tf.Tensor:
  """Per-example form of the free-bits KL: [B] whose batch mean is `free_bits_kl`.

  Example mode is already a sum over examples. In batch mode the clamp acts
  on the global batch's mean KL per dimension m_j (all replicas alike), and

      kl_fb_i = sum_j (KL_ij if m_j >= lambda else lambda)

  has batch mean sum_j max(lambda, m_j) and the same gradient (1/B on the
  dimensions above the floor, 0 below; ties pass the gradient as
  `free_bits_kl` does). Being per example, it averages correctly over
  replicas and composes with any balancer.
  """
  free_bits_kl(tf.zeros([1, 1]), free_bits, mode)  # checks the arguments
  kl = tf.convert_to_tensor(kl_per_dim)
  floor = tf.constant(free_bits, kl.dtype)
  if mode == "example":
    return tf.reduce_sum(tf.maximum(kl, floor), axis=1)
  batch_mean = elbo.global_batch_mean(kl, axis=0)
  keep = batch_mean >= floor
  return tf.reduce_sum(tf.where(keep[None, :], kl, floor), axis=1)


@register("free_bits")
class FreeBits(Balancer):
  """Free bits on the KL term of any other balancer (Kingma et al. 2016).

  The inner balancer (default: the constant weight) sees the clamped KL term
  `kl_fb / J_r` in place of `kl`; rate and distortion stay unclamped.

  Args:
    free_bits: lambda >= 0 nats per latent dimension (0.25 in the paper).
    mode: "batch" or "example" (see the module docstring).
    inner: the balancer that weights the clamped KL (not `Capacity`, whose
      target acts on the raw KL).
  """

  # Chosen by the general section's --free_bits, around any other balancer.
  selectable = False

  def __init__(self, free_bits=0.25, mode="batch", inner=None,
               name="free_bits", **kwargs):
    super().__init__(name=name, **kwargs)
    free_bits_kl(tf.zeros([1, 1]), free_bits, mode)
    if inner is None:
      from tfvae.balancing.weight import KLWeight  # pylint: disable=import-outside-toplevel
      inner = KLWeight()
    if inner.registry_name == "capacity":
      raise ValueError("free bits cannot wrap capacity: its target already "
                       "acts on the raw KL")
    self.free_bits = free_bits
    self.mode = mode
    self.inner = inner
    self.scalar_names = inner.scalar_names

  def get_config(self):
    return {**super().get_config(), "free_bits": self.free_bits,
            "mode": self.mode,
            "inner": keras.saving.serialize_keras_object(self.inner)}

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    if isinstance(config.get("inner"), dict):
      config["inner"] = keras.saving.deserialize_keras_object(config["inner"])
    return cls(**config)

  @classmethod
  def from_config_section(cls, section, context):
    raise ValueError("free bits wrap another balancer: build the inner one "
                     "and pass it as inner=")

  def balance(self, terms, step, training):
    clamped = free_bits_per_example(terms.kl_per_dim, self.free_bits,
                                    self.mode)
    return self.inner.balance(terms.replace(kl=clamped / terms.kl_divisor),
                              step, training)

  @property
  def own_trainable_variables(self):
    return self.inner.own_trainable_variables

  def train_own(self, terms, step):
    return self.inner.train_own(terms, step)
