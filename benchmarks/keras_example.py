"""The official Keras VAE example's networks and its 28x28 data, offline.

Shared by `throughput.py` (the baseline's and tfvae's networks) and
`bf16_parity.py` (the "keras28" workload). The networks follow the keras-io
example "Variational AutoEncoder" (conv 32-64, kernel 3, stride 2, dense 16,
latent 2); its MNIST download is replaced by scikit-learn's 1797 8x8 digits,
bilinearly upsampled to 28x28.
"""

import keras
import numpy as np
import tensorflow as tf

from tfvae.data import datasets

MNIST_SIDE = 28
LATENT_DIM = 2


def digits_28x28():
  """The 1797 digits, bilinearly upsampled to 28x28, as uint8 0..255."""
  images = datasets.load_digits()[0].astype(np.float32) / 16.0
  images = tf.image.resize(images, (MNIST_SIDE, MNIST_SIDE)).numpy()
  return np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)


def encoder(image_shape, latent_dim=LATENT_DIM):
  """The example's encoder, returning (z_mean, z_log_var)."""
  inputs = keras.Input(shape=image_shape)
  x = keras.layers.Conv2D(32, 3, activation="relu", strides=2,
                          padding="same")(inputs)
  x = keras.layers.Conv2D(64, 3, activation="relu", strides=2,
                          padding="same")(x)
  x = keras.layers.Flatten()(x)
  x = keras.layers.Dense(16, activation="relu")(x)
  z_mean = keras.layers.Dense(latent_dim, name="z_mean")(x)
  z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(x)
  return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def decoder(image_shape, latent_dim=LATENT_DIM, activation="sigmoid"):
  """The example's decoder; `activation=None` returns logits (for tfvae)."""
  side = image_shape[0] // 4
  inputs = keras.Input(shape=(latent_dim,))
  x = keras.layers.Dense(side * side * 64, activation="relu")(inputs)
  x = keras.layers.Reshape((side, side, 64))(x)
  x = keras.layers.Conv2DTranspose(64, 3, activation="relu", strides=2,
                                   padding="same")(x)
  x = keras.layers.Conv2DTranspose(32, 3, activation="relu", strides=2,
                                   padding="same")(x)
  outputs = keras.layers.Conv2DTranspose(image_shape[-1], 3,
                                         activation=activation,
                                         padding="same")(x)
  return keras.Model(inputs, outputs, name="decoder")
