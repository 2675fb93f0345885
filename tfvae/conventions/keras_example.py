"""The Keras VAE example (keras-team/keras-io `examples/generative/vae.py`,
commit 09e02e1, "Last modified: 2020/05/03"; the Keras 3 version has the same
loss).

Its `train_step`:

    reconstruction_loss = tf.reduce_mean(tf.reduce_sum(
        keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2)))
    kl_loss = tf.reduce_mean(tf.reduce_sum(
        -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var)), axis=1))
    total_loss = reconstruction_loss + kl_loss

`keras.losses.binary_crossentropy` averages over the LAST axis (channels), the
sum runs over height and width: per example rec = BCE_sum / C. On MNIST
(28x28x1, latent_dim 2) C = 1: a Bernoulli VAE with beta_eff = 1. With C
channels the same code is beta_eff = C; a weight w put on `kl_loss` gives
beta_eff = w C.
"""

from tfvae.conventions import _common
from tfvae.conventions.convention import Convention
from tfvae.errors import ConfigError

PEER = "keras_example"
VERSION = "the Keras VAE example (keras-io commit 09e02e1)"
SOURCE = "examples/generative/vae.py"


def _convention(weight, event_shape, latent_dim):
  if len(event_shape) != 3:
    raise ConfigError("input_shape must be (H, W, C) for the Keras example "
                      "(it sums over axes 1, 2 and averages the last)")
  channels = event_shape[-1]
  notes = ()
  if channels > 1:
    notes = (f"keras.losses.binary_crossentropy averages over the last axis "
             f"({channels} channels): the reconstruction is BCE_sum / "
             f"{channels}",)
  return Convention(
      "bce", event_shape, latent_dim, weight=weight, factor=1.0 / channels,
      name=PEER, label="Keras VAE example (a weight w on kl_loss)",
      formula="sum_HW mean_C BCE + w KL_sum", weight_name="w", notes=notes)


def read(beta=1.0, input_shape=(28, 28, 1), latent_dim=2):
  """The Keras example's loss (its own MNIST shape and latent_dim 2 by
  default); `beta` is a weight w multiplying its `kl_loss` (1 in the example).
  """
  shape = _common.parse_shape(input_shape)
  return _convention(_common.number("beta", beta), shape, latent_dim)


def targets(event_shape, latent_dim):
  """The example's loss; none for data that are not (H, W, C) images."""
  if len(event_shape) != 3:
    return []
  return [_convention(1.0, event_shape, latent_dim)]
