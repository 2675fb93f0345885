"""The categorical likelihood against a numpy log-softmax, with padding masked."""

import dataclasses
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import likelihoods
from tfvae.errors import ConfigError
from tfvae.errors import DataError
from tfvae.likelihoods.categorical import Categorical
from tfvae.likelihoods.categorical import OneHotIds

V, PAD = 7, 0
RNG = np.random.RandomState(11)
LOGITS = RNG.normal(scale=3.0, size=(4, 6, V)).astype(np.float32)
# Sentences of 6, 3, 1 and 5 real tokens, padded with id 0.
IDS = np.array([[3, 1, 6, 2, 5, 4],
                [2, 2, 6, 0, 0, 0],
                [4, 0, 0, 0, 0, 0],
                [1, 3, 5, 6, 2, 0]], np.float32)
LENGTHS = np.array([6, 3, 1, 5])


def numpy_nll(ids, logits, pad=None):
  """-log softmax(logits)[id] by hand in float64; 0 at padding."""
  logits = logits.astype(np.float64)
  shifted = logits - logits.max(axis=-1, keepdims=True)
  log_softmax = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
  ids = ids.astype(np.int64)
  nll = -np.take_along_axis(log_softmax, np.where(ids == pad, 0, ids)[..., None]
                            if pad is not None else ids[..., None],
                            axis=-1)[..., 0]
  if pad is not None:
    nll = np.where(ids == pad, 0.0, nll)
  return nll


def test_masked_nll_matches_numpy_log_softmax():
  lik = Categorical(num_classes=V, mask_value=PAD)
  expected = numpy_nll(IDS, LOGITS, pad=PAD)
  got = lik.nll(IDS, LOGITS).numpy()
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
  assert np.all(got[IDS == PAD] == 0.0)
  np.testing.assert_allclose(lik.log_likelihood(IDS, LOGITS).numpy(),
                             -expected.sum(axis=1), rtol=1e-5)
  np.testing.assert_array_equal(lik.feature_count(IDS).numpy(), LENGTHS)


def test_unmasked_nll_counts_every_position():
  lik = Categorical(num_classes=V)
  np.testing.assert_allclose(lik.nll(IDS, LOGITS).numpy(),
                             numpy_nll(IDS, LOGITS), rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(lik.feature_count(IDS).numpy(), [6] * 4)


def test_padding_outside_the_classes():
  """A padding id of -1 is not a class: masked, never looked up."""
  ids = np.where(IDS == PAD, -1, IDS)
  lik = Categorical(num_classes=V, mask_value=-1)
  expected = numpy_nll(np.where(ids == -1, 0, ids), LOGITS) * (ids != -1)
  np.testing.assert_allclose(lik.nll(ids, LOGITS).numpy(), expected,
                             rtol=1e-5, atol=1e-5)
  lik.check_data(ids)


def test_perplexity_is_exp_of_nll_per_real_token():
  lik = Categorical(num_classes=V, mask_value=PAD)
  nll = tf.reduce_sum(lik.nll(IDS, LOGITS))
  tokens = tf.reduce_sum(lik.feature_count(IDS))
  perplexity = float(tf.exp(nll / tokens))
  expected = math.exp(numpy_nll(IDS, LOGITS, pad=PAD).sum() / LENGTHS.sum())
  assert perplexity == pytest.approx(expected, rel=1e-5)
  # Uniform logits: perplexity V whatever the padding.
  uniform = float(tf.exp(tf.reduce_sum(lik.nll(IDS, np.zeros_like(LOGITS)))
                         / tokens))
  assert uniform == pytest.approx(V, rel=1e-5)


def test_normalised():
  lik = Categorical(num_classes=V)
  probs = tf.exp(lik.distribution(LOGITS).log_prob(
      tf.range(V)[:, None, None] * tf.ones([1, 4, 6], tf.int32)))
  np.testing.assert_allclose(tf.reduce_sum(probs, axis=0).numpy(), 1.0,
                             rtol=1e-5)


def test_gradient_is_zero_at_padding():
  lik = Categorical(num_classes=V, mask_value=PAD)
  logits = tf.constant(LOGITS)
  with tf.GradientTape() as tape:
    tape.watch(logits)
    loss = tf.reduce_sum(lik.nll(IDS, logits))
  grad = tape.gradient(loss, logits).numpy()
  assert np.all(grad[IDS == PAD] == 0.0)
  assert np.all(np.isfinite(grad))
  # softmax - one_hot at real positions.
  real = IDS != PAD
  softmax = np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True)
  expected = softmax - np.eye(V)[IDS.astype(int)]
  np.testing.assert_allclose(grad[real], expected[real], atol=1e-5)


def test_shapes_mean_and_sample():
  lik = Categorical(num_classes=V, mask_value=PAD)
  assert lik.params_shape([6]) == (6, V)
  assert lik.params_shape([3]) == (3, V)
  np.testing.assert_array_equal(lik.mean(LOGITS).numpy(),
                                LOGITS.argmax(-1).astype(np.float32))
  draws = lik.sample(LOGITS, seed=3).numpy()
  assert draws.shape == (4, 6) and draws.dtype == np.float32
  assert set(np.unique(draws)) <= set(range(V))
  one_hot = lik.input_layer()(IDS).numpy()
  assert one_hot.shape == (4, 6, V)
  np.testing.assert_array_equal(one_hot.sum(-1), IDS != PAD)
  with pytest.raises(ValueError, match="num_classes"):
    Categorical().params_shape([6])


@pytest.mark.parametrize("bad, words", [
    (IDS + 0.5, "non-integer"),
    (np.where(IDS == 3, np.nan, IDS), "NaN"),
    (np.where(IDS == 3, V, IDS), r"\[0, 7\)"),
    (np.where(IDS == 3, -2, IDS), r"\[0, 7\)"),
])
def test_bad_data_raise_naming_the_argument(bad, words):
  lik = Categorical(num_classes=V, mask_value=PAD)
  with pytest.raises(DataError, match=f"^validation_data: .*{words}") as info:
    lik.check_data(bad, "validation_data")
  assert info.value.params == ("validation_data",)
  lik.check_data(IDS, "x")


def test_bad_settings_name_the_field():
  with pytest.raises(ConfigError, match="num_classes"):
    Categorical(num_classes=1)
  with pytest.raises(ConfigError, match="mask_value"):
    Categorical(num_classes=4, mask_value=0.5)
  settings = Categorical.Settings(num_classes=None, mask_value=None)
  with pytest.raises(ConfigError, match="num_classes"):
    Categorical.from_settings(settings)


def test_settings_from_the_data():
  settings = Categorical.Settings()
  assert [f.name for f in dataclasses.fields(settings)] == [
      "num_classes", "mask_value"]

  class WithClasses:
    num_classes = 50
    train = IDS
    validation = IDS

  class WithoutClasses:
    train = IDS
    validation = IDS[:1]

  assert Categorical.from_settings(settings, data=WithClasses).num_classes == 50
  assert Categorical.from_settings(settings,
                                   data=WithoutClasses).num_classes == 7
  explicit = Categorical.Settings(num_classes=9, mask_value=0)
  lik = Categorical.from_settings(explicit, data=WithClasses)
  assert (lik.num_classes, lik.mask_value) == (9, 0)


def test_registry_description_and_keras_round_trip():
  assert likelihoods.lookup("categorical") is Categorical
  lik = likelihoods.get("categorical", num_classes=V, mask_value=PAD)
  description = lik.describe()
  assert description == {"likelihood": "categorical", "num_classes": V,
                         "mask_value": PAD}
  again = likelihoods.from_description(description)
  assert (again.num_classes, again.mask_value) == (V, PAD)
  restored = keras.saving.deserialize_keras_object(
      keras.saving.serialize_keras_object(lik))
  assert isinstance(restored, Categorical)
  np.testing.assert_allclose(restored.nll(IDS, LOGITS).numpy(),
                             lik.nll(IDS, LOGITS).numpy())
  layer = keras.saving.deserialize_keras_object(
      keras.saving.serialize_keras_object(lik.input_layer()))
  assert isinstance(layer, OneHotIds)
  np.testing.assert_array_equal(layer(IDS).numpy(),
                                lik.input_layer()(IDS).numpy())
  entry = Categorical.translator_entry()
  assert set(entry) == {"reconstruction", "weight"}


def test_general_vae_on_class_columns():
  """tfvae.VAE takes the family as is: one-hot input layer, [D, V] logits."""
  import tfvae  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  x = rng.integers(0, V, size=(64, 5)).astype(np.float32)
  lik = Categorical(num_classes=V)
  lik.check_data(x)
  encoder = keras.Sequential([keras.Input((5,)), lik.input_layer(),
                              keras.layers.Flatten(),
                              keras.layers.Dense(4)])
  decoder = keras.Sequential([keras.Input((2,)), keras.layers.Dense(5 * V),
                              keras.layers.Reshape(lik.params_shape([5]))])
  vae = tfvae.VAE(encoder, decoder, likelihood=lik)
  vae.compile(optimizer="adam")
  history = vae.fit(x, epochs=2, batch_size=32, verbose=0)
  assert np.all(np.isfinite(history.history["neg_elbo"]))
  terms = vae.compute_terms(x, training=False)
  assert float(tf.reduce_mean(terms["distortion"])) == pytest.approx(
      5 * math.log(V), rel=0.2)
