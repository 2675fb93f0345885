"""Encoder and decoder networks.

- `mlp`: flatten -> Dense(h) -> Dense(h) -> Dense(2J); the decoder mirrors it.
  Works for events of any shape (images, sequences [T, D], vectors [D]).
- `conv`: stride-2, kernel-4 convolutions down to a 4x4..7x7 grid, then a dense
  layer. The number of convolutions adapts to the input side: 8x8 -> 1,
  28x28 -> 2, 32x32 -> 3, 64x64 -> 4 (for 64x64 this is the beta-VAE stack of
  Higgins et al. 2017 / Burgess et al. 2018: 32-32-64-64 filters, dense 256).
  The decoder mirrors it with transposed convolutions.
- `gru_encoder` / `gru_decoder`: the sentence VAE's (Bowman et al. 2016) GRU
  encoder over the real tokens and teacher-forced GRU decoder that reads z
  at every step and as its initial state (`tfvae.models.sequence`).

The encoder outputs (z_mean, z_log_variance); the decoder outputs unconstrained
likelihood parameters: `params_per_feature` values per event feature, stacked
on the last axis (see `tfvae.likelihoods`). These are tfvae's own networks for
the command line; the library takes any Keras encoder and decoder.

Under a mixed-precision policy the body computes in 16 bits, but the layers
at the latent code and the output stay float32 (`PRECISION_CRITICAL_DTYPE`):
the posterior heads, the decoder's first layer (which reads z: bfloat16's 8
significant bits would round z by ~0.4%, as coarse as a sharp posterior's
standard deviation) and the decoder's output layer (the logits). They are a
few percent of the FLOPs; on the 64x64 conv model they halve the gradients'
error against float32 (docs/performance.md). Under float32 nothing changes.
"""

import keras
import numpy as np
import tensorflow as tf

from tfvae.errors import ConfigError

CONV_FILTERS = (32, 32, 64, 64)
CONV_DENSE_UNITS = 256
# dtype of the layers at the latent code and the output (see module doc).
PRECISION_CRITICAL_DTYPE = "float32"


def conv_depth(side):
  """Number of stride-2 convolutions for an input of this spatial side."""
  depth = 0
  while side % 2 == 0 and side // 2 >= 4 and depth < len(CONV_FILTERS):
    side //= 2
    depth += 1
  return max(depth, 0)


def build_encoder(input_shape, latent_dim, architecture="mlp", hidden_units=256,
                  input_layer=None):
  """Returns a Keras model x -> [z_mean, z_log_variance].

  `input_layer` (the likelihood's `input_layer()`, e.g. a one-hot of ids)
  maps the data to the network's inputs first; None feeds them as they are.
  """
  inputs = keras.Input(shape=input_shape, name="x")
  features = inputs if input_layer is None else input_layer(inputs)
  if architecture == "mlp":
    h = keras.layers.Flatten()(features)
    h = keras.layers.Dense(hidden_units, activation="relu")(h)
    h = keras.layers.Dense(hidden_units, activation="relu")(h)
  elif architecture == "conv":
    if len(input_shape) != 3:
      raise ConfigError(f"architecture=conv needs images [H, W, C], got "
                        f"events of shape {list(input_shape)}; use mlp")
    height, width = input_shape[0], input_shape[1]
    if height != width:
      raise ConfigError(f"--architecture=conv needs square images, got "
                        f"{height}x{width}")
    depth = conv_depth(height)
    if depth == 0:
      raise ConfigError(f"--architecture=conv cannot downsample {height}x"
                        f"{width} images; use --architecture=mlp")
    h = features
    for filters in CONV_FILTERS[:depth]:
      h = keras.layers.Conv2D(filters, 4, strides=2, padding="same",
                              activation="relu")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(CONV_DENSE_UNITS, activation="relu")(h)
  else:
    raise ConfigError(f"unknown architecture {architecture!r}")
  z_mean = keras.layers.Dense(latent_dim, name="z_mean",
                              dtype=PRECISION_CRITICAL_DTYPE)(h)
  z_log_variance = keras.layers.Dense(latent_dim, name="z_log_variance",
                                      dtype=PRECISION_CRITICAL_DTYPE)(h)
  return keras.Model(inputs, [z_mean, z_log_variance], name="encoder")


def build_decoder(output_shape, latent_dim, params_per_feature=1,
                  architecture="mlp", hidden_units=256, params_shape=None):
  """Returns a Keras model z -> likelihood params.

  The output has the shape `params_shape` (the likelihood's
  `params_shape(event_shape)`, which may add an axis: [T] tokens -> [T, V]
  logits); by default the event's shape with `params_per_feature` times its
  last axis ([H, W, C * params_per_feature] for images). The conv decoder
  needs params of shape [H, W, channels].
  """
  output_shape = tuple(int(d) for d in output_shape)
  if params_shape is None:
    params_shape = output_shape[:-1] + (output_shape[-1] * params_per_feature,)
  params_shape = tuple(int(d) for d in params_shape)
  inputs = keras.Input(shape=(latent_dim,), name="z")
  if architecture == "mlp":
    h = keras.layers.Dense(hidden_units, activation="relu",
                           dtype=PRECISION_CRITICAL_DTYPE)(inputs)
    h = keras.layers.Dense(hidden_units, activation="relu")(h)
    h = keras.layers.Dense(int(np.prod(params_shape)),
                           dtype=PRECISION_CRITICAL_DTYPE)(h)
    # A 16-bit Reshape would round the float32 output again.
    params = keras.layers.Reshape(params_shape,
                                  dtype=PRECISION_CRITICAL_DTYPE)(h)
  elif architecture == "conv":
    if len(params_shape) != 3 or params_shape[:2] != output_shape[:2]:
      raise ConfigError(f"architecture=conv needs likelihood parameters of "
                        f"shape [H, W, channels] for images [H, W, C], got "
                        f"{list(params_shape)}; use mlp")
    height = output_shape[0]
    params_channels = params_shape[-1]
    depth = conv_depth(height)
    side = height // 2**depth
    filters = CONV_FILTERS[:depth]
    h = keras.layers.Dense(CONV_DENSE_UNITS, activation="relu",
                           dtype=PRECISION_CRITICAL_DTYPE)(inputs)
    h = keras.layers.Dense(side * side * filters[-1], activation="relu")(h)
    h = keras.layers.Reshape((side, side, filters[-1]))(h)
    for f in reversed(filters[:-1]):
      h = keras.layers.Conv2DTranspose(f, 4, strides=2, padding="same",
                                       activation="relu")(h)
    params = keras.layers.Conv2DTranspose(params_channels, 4, strides=2,
                                          padding="same",
                                          dtype=PRECISION_CRITICAL_DTYPE)(h)
  else:
    raise ConfigError(f"unknown architecture {architecture!r}")
  return keras.Model(inputs, params, name="decoder")


# ------------------------------------------- sequence networks (text, SequenceVAE)


@keras.saving.register_keras_serializable(package="tfvae.sequence")
class NotEqual(keras.layers.Layer):
  """ids -> the boolean mask ids != value (the real tokens)."""

  def __init__(self, value, **kwargs):
    super().__init__(**kwargs)
    self.value = int(value)

  def call(self, ids):
    return tf.not_equal(tf.cast(ids, tf.int32), self.value)

  def compute_output_shape(self, input_shape):
    return tuple(input_shape)

  def get_config(self):
    return {**super().get_config(), "value": self.value}


@keras.saving.register_keras_serializable(package="tfvae.sequence")
class RepeatOverTime(keras.layers.Layer):
  """[z [B, J], sequence [B, T, ...]] -> z repeated at every step [B, T, J]."""

  def call(self, inputs):
    z, sequence = inputs
    steps = tf.shape(sequence)[1]
    return tf.tile(z[:, None, :], tf.stack([1, steps, 1]))

  def compute_output_shape(self, input_shape):
    z_shape, sequence_shape = input_shape
    return (z_shape[0], sequence_shape[1], z_shape[-1])


def gru_encoder(vocab_size, latent_dim, embedding_dim=64, units=128,
                pad_id=0, name="encoder"):
  """ids [B, T] -> [mean | log variance] [B, 2 J]: Embedding, GRU over the
  real tokens (padding masked), Dense.

  Args:
    vocab_size: V.
    latent_dim: J.
    embedding_dim: the token embedding's size.
    units: the GRU's state size.
    pad_id: the padding id, masked out of the GRU.
    name: the model's name.
  """
  ids = keras.Input((None,), dtype="int32", name="ids")
  embedded = keras.layers.Embedding(vocab_size, embedding_dim,
                                    name="embedding")(ids)
  mask = NotEqual(pad_id, name="real_tokens")(ids)
  state = keras.layers.GRU(units, name="gru")(embedded, mask=mask)
  out = keras.layers.Dense(2 * latent_dim, name="posterior")(state)
  return keras.Model(ids, out, name=name)


def gru_decoder(vocab_size, latent_dim, embedding_dim=64, units=128,
                z_every_step=True, z_initial_state=True, name="decoder"):
  """[z [B, J], decoder inputs [B, T]] -> logits [B, T, V], causal in the
  tokens: Embedding; z concatenated to every step's input
  (`z_every_step`) and/or z -> the GRU's initial state (`z_initial_state`,
  Bowman's); GRU; Dense(V).

  Args:
    vocab_size: V.
    latent_dim: J.
    embedding_dim: the token embedding's size.
    units: the GRU's state size.
    z_every_step: concatenate z to the embedding at every step.
    z_initial_state: the GRU's initial state is tanh(Dense(z)).
    name: the model's name.
  """
  if not (z_every_step or z_initial_state):
    raise ValueError("gru_decoder needs z_every_step or z_initial_state, or "
                     "the decoder would ignore z")
  z = keras.Input((latent_dim,), name="z")
  tokens = keras.Input((None,), dtype="int32", name="decoder_inputs")
  h = keras.layers.Embedding(vocab_size, embedding_dim,
                             name="embedding")(tokens)
  if z_every_step:
    h = keras.layers.Concatenate(name="with_z")(
        [h, RepeatOverTime(name="z_every_step")([z, h])])
  gru = keras.layers.GRU(units, return_sequences=True, name="gru")
  if z_initial_state:
    initial = keras.layers.Dense(units, activation="tanh",
                                 name="initial_state")(z)
    h = gru(h, initial_state=initial)
  else:
    h = gru(h)
  logits = keras.layers.Dense(vocab_size, name="logits")(h)
  return keras.Model([z, tokens], logits, name=name)
