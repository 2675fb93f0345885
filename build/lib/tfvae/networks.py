"""Encoder and decoder networks.

- `mlp`: flatten -> Dense(h) -> Dense(h) -> Dense(2J); the decoder mirrors it.
- `conv`: stride-2, kernel-4 convolutions down to a 4x4..7x7 grid, then a dense
  layer. The number of convolutions adapts to the input side: 8x8 -> 1,
  28x28 -> 2, 32x32 -> 3, 64x64 -> 4 (for 64x64 this is the beta-VAE stack of
  Higgins et al. 2017 / Burgess et al. 2018: 32-32-64-64 filters, dense 256).
  The decoder mirrors it with transposed convolutions.

The encoder outputs (z_mean, z_log_variance); the decoder outputs unconstrained
likelihood parameters with `params_channels` channels (see `tfvae.likelihoods`).
"""

import keras

from tfvae.errors import ConfigError

CONV_FILTERS = (32, 32, 64, 64)
CONV_DENSE_UNITS = 256


def conv_depth(side):
  """Number of stride-2 convolutions for an input of this spatial side."""
  depth = 0
  while side % 2 == 0 and side // 2 >= 4 and depth < len(CONV_FILTERS):
    side //= 2
    depth += 1
  return max(depth, 0)


def build_encoder(input_shape, latent_dim, architecture="mlp", hidden_units=256):
  """Returns a Keras model x -> [z_mean, z_log_variance]."""
  inputs = keras.Input(shape=input_shape, name="x")
  if architecture == "mlp":
    h = keras.layers.Flatten()(inputs)
    h = keras.layers.Dense(hidden_units, activation="relu")(h)
    h = keras.layers.Dense(hidden_units, activation="relu")(h)
  elif architecture == "conv":
    height, width = input_shape[0], input_shape[1]
    if height != width:
      raise ConfigError(f"--architecture=conv needs square images, got "
                        f"{height}x{width}")
    depth = conv_depth(height)
    if depth == 0:
      raise ConfigError(f"--architecture=conv cannot downsample {height}x"
                        f"{width} images; use --architecture=mlp")
    h = inputs
    for filters in CONV_FILTERS[:depth]:
      h = keras.layers.Conv2D(filters, 4, strides=2, padding="same",
                              activation="relu")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(CONV_DENSE_UNITS, activation="relu")(h)
  else:
    raise ConfigError(f"unknown architecture {architecture!r}")
  z_mean = keras.layers.Dense(latent_dim, name="z_mean")(h)
  z_log_variance = keras.layers.Dense(latent_dim, name="z_log_variance")(h)
  return keras.Model(inputs, [z_mean, z_log_variance], name="encoder")


def build_decoder(output_shape, latent_dim, params_channels,
                  architecture="mlp", hidden_units=256):
  """Returns a Keras model z -> likelihood params [H, W, params_channels]."""
  height, width = output_shape[0], output_shape[1]
  inputs = keras.Input(shape=(latent_dim,), name="z")
  if architecture == "mlp":
    h = keras.layers.Dense(hidden_units, activation="relu")(inputs)
    h = keras.layers.Dense(hidden_units, activation="relu")(h)
    h = keras.layers.Dense(height * width * params_channels)(h)
    params = keras.layers.Reshape((height, width, params_channels))(h)
  elif architecture == "conv":
    depth = conv_depth(height)
    side = height // 2**depth
    filters = CONV_FILTERS[:depth]
    h = keras.layers.Dense(CONV_DENSE_UNITS, activation="relu")(inputs)
    h = keras.layers.Dense(side * side * filters[-1], activation="relu")(h)
    h = keras.layers.Reshape((side, side, filters[-1]))(h)
    for f in reversed(filters[:-1]):
      h = keras.layers.Conv2DTranspose(f, 4, strides=2, padding="same",
                                       activation="relu")(h)
    params = keras.layers.Conv2DTranspose(params_channels, 4, strides=2,
                                          padding="same")(h)
  else:
    raise ConfigError(f"unknown architecture {architecture!r}")
  return keras.Model(inputs, params, name="decoder")
