"""Beta, discretised (logistic mixture, Gaussian) and table-column likelihoods.

Each density against an independent implementation (scipy.stats / numpy from
the papers' formulas, float64), its normalisation, finite gradients at the
data's edges, the data and settings checks, Keras serialisation and a few
training steps of a tiny VAE.
"""

import dataclasses
import json
import math
import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import special
from scipy import stats

import tfvae
from tfvae import likelihoods
from tfvae.errors import ConfigError
from tfvae.errors import DataError
from tfvae.likelihoods import base
from tfvae.likelihoods import beta as beta_lib
from tfvae.likelihoods import columns as columns_lib

RNG = np.random.RandomState(7)
TABLE = "gaussian:4,bernoulli:3,categorical:4,categorical:3"


def softplus(t):
  return np.logaddexp(0.0, np.asarray(t, np.float64))


def settings_of(cls, **values):
  return cls.Settings(**values)


def finite_gradient(lik, x, params):
  params = tf.Variable(params)
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(lik.nll(x, params))
  variables = [params] + list(lik.trainable_variables)
  grads = tape.gradient(loss, variables)
  return bool(np.isfinite(loss.numpy())) and all(
      g is not None and np.all(np.isfinite(tf.convert_to_tensor(g).numpy()))
      for g in grads)


# ------------------------------------------------------------------- Beta


def test_beta_matches_scipy_and_clips_the_ends():
  lik = likelihoods.Beta()
  params = RNG.normal(scale=2.0, size=(5, 2 * 6)).astype(np.float32)
  x = RNG.uniform(0.001, 0.999, size=(5, 6)).astype(np.float32)
  x[0, :3] = 0.0
  x[1, :3] = 1.0
  a = softplus(params[:, :6]) + 1e-3
  b = softplus(params[:, 6:]) + 1e-3
  # The clip happens in float32: 1 - 1e-4 is 0.99989998 there.
  clipped = np.clip(x, np.float32(1e-4), np.float32(1 - 1e-4)).astype(
      np.float64)
  expected = -stats.beta.logpdf(clipped, a, b)
  np.testing.assert_allclose(lik.nll(x, params).numpy(), expected, rtol=2e-5,
                             atol=2e-5)
  np.testing.assert_allclose(lik.mean(params).numpy(), a / (a + b), rtol=1e-5)
  # The clip is a setting: another one scores the end points elsewhere.
  wide = likelihoods.Beta(clip=0.01)
  np.testing.assert_allclose(
      wide.nll(x, params).numpy()[0, :3],
      -stats.beta.logpdf(0.01, a[0, :3], b[0, :3]), rtol=2e-5)
  assert beta_lib.DEFAULT_CLIP == 1e-4
  assert lik.params_shape((3, 3, 2)) == (3, 3, 4)


def test_beta_integrates_to_one():
  lik = likelihoods.Beta()
  # Concentrations >= 1.5: the density is bounded, a midpoint sum converges.
  params = np.array([[1.5, 3.0, 2.0, 2.5, 1.3, 4.0]], np.float32)
  assert np.all(softplus(params) > 1.5)
  n = 200_000
  grid = ((np.arange(n) + 0.5) / n).astype(np.float32)
  density = np.exp(-lik.nll(
      np.broadcast_to(grid[:, None], (n, 3)),
      np.broadcast_to(params, (n, 6))).numpy().astype(np.float64))
  np.testing.assert_allclose(density.mean(axis=0), 1.0, atol=1e-4)


def test_beta_gradients_finite_at_the_ends():
  lik = likelihoods.Beta()
  x = np.array([[0.0, 1.0, 0.0, 1.0]], np.float32)
  for scale in (0.0, 30.0, -30.0):
    params = np.full((1, 8), scale, np.float32)
    assert finite_gradient(lik, x, params), scale


def test_beta_data_and_settings_checks():
  lik = likelihoods.Beta()
  for bad, words in ((np.array([0.5, np.nan]), "NaN"),
                     (np.array([0.5, 255.0]), "255"),
                     (np.array([-1.0, 0.5]), "gaussian")):
    with pytest.raises(DataError, match=words) as info:
      lik.check_data(bad, "validation_data")
    assert info.value.params == ("validation_data",)
    assert "validation_data" in str(info.value)
  assert lik.check_data(np.array([0.2, 0.7])) == []
  warnings = lik.check_data(np.array([0.0, 0.5, 1.0]))
  assert len(warnings) == 1 and "2 of 3" in warnings[0]
  for clip in (0.0, 0.5, -1e-3, float("nan"), "a", True):
    with pytest.raises(ConfigError) as info:
      likelihoods.Beta.check_settings(settings_of(likelihoods.Beta,
                                                  beta_clip=clip))
    assert info.value.params == ("beta_clip",)
  built = likelihoods.Beta.from_settings(
      settings_of(likelihoods.Beta, beta_clip=0.01))
  assert built.clip == 0.01


# ------------------------------------------------------ discretised logistic


def pixelcnn_log_prob(x, logits, loc, log_scale, max_level=255):
  """PixelCNN++ `discretized_mix_logistic_loss` per subpixel, in float64.

  x in [-1, 1]; edge bins open at -1 and 1; the CDF difference is taken on
  the lower side of the logistic (1 - F is used above the mean) so float64
  keeps the digits the float32 reference code falls back on a midpoint for.
  """
  x, loc = np.float64(x)[..., None], np.float64(loc)
  log_scale = np.maximum(np.float64(log_scale), -7.0)
  inv = np.exp(-log_scale)
  centred = x - loc
  plus, minus = inv * (centred + 1.0 / max_level), inv * (centred - 1.0 /
                                                          max_level)
  upper = centred > 0
  delta = np.where(upper, special.expit(-minus) - special.expit(-plus),
                   special.expit(plus) - special.expit(minus))
  log_cdf_plus = plus - softplus(plus)
  log_one_minus_cdf_min = -softplus(minus)
  log_probs = np.where(x < -0.999, log_cdf_plus,
                       np.where(x > 0.999, log_one_minus_cdf_min,
                                np.log(delta)))
  log_probs = log_probs + special.log_softmax(np.float64(logits), axis=-1)
  return special.logsumexp(log_probs, axis=-1)


def logistic_params(shape, channels, mixtures):
  logits = RNG.normal(size=shape + (channels, mixtures))
  loc = RNG.uniform(-1.1, 1.1, size=shape + (channels, mixtures))
  log_scale = RNG.uniform(-5.0, 2.0, size=shape + (channels, mixtures))
  flat = [p.reshape(shape + (channels * mixtures,)) for p in
          (logits, loc, log_scale)]
  params = np.concatenate(flat, axis=-1).astype(np.float32)
  return params, tuple(p.astype(np.float32) for p in (logits, loc, log_scale))


def test_discretized_logistic_matches_pixelcnn_formula():
  lik = likelihoods.DiscretizedLogistic(num_mixtures=4)
  shape, channels = (6, 5), 3
  params, (logits, loc, log_scale) = logistic_params(shape, channels, 4)
  assert lik.params_shape(shape + (channels,)) == params.shape
  levels = RNG.randint(0, 256, size=shape + (channels,))
  levels[0] = 0
  levels[1] = 255
  x = (levels / 255.0).astype(np.float32)
  expected = -pixelcnn_log_prob(2.0 * levels / 255.0 - 1.0, logits, loc,
                                log_scale)
  got = lik.nll(x, params).numpy()
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
  # TFP's QuantizedDistribution over the levels agrees (less precisely).
  tfp_nll = -lik.distribution(params).log_prob(levels.astype(np.float32))
  np.testing.assert_allclose(tfp_nll.numpy(), expected, rtol=2e-4, atol=2e-4)
  weights = special.softmax(np.float64(logits), axis=-1)
  np.testing.assert_allclose(
      lik.mean(params).numpy(),
      np.clip(0.5 * ((weights * loc).sum(-1) + 1.0), 0.0, 1.0), rtol=1e-5,
      atol=1e-6)


@pytest.mark.parametrize("num_bits", [8, 3])
def test_discretized_mass_sums_to_one(num_bits):
  top = 2**num_bits - 1
  levels = np.arange(top + 1, dtype=np.float32)[:, None] / top
  for lik, width in ((likelihoods.DiscretizedLogistic(num_mixtures=3,
                                                      num_bits=num_bits), 9),
                     (likelihoods.DiscretizedGaussian(num_bits=num_bits), 2)):
    for trial in range(4):
      params = RNG.normal(size=(1, width)).astype(np.float32)
      params[:, -(width // 3 if width == 9 else 1):] = (-6.0, -1.0, 0.5, 3.0)[
          trial]
      nll = lik.nll(levels, np.broadcast_to(params, (top + 1, width))).numpy()
      assert abs(np.exp(-nll.astype(np.float64)).sum() - 1.0) < 1e-5, (
          lik.likelihood_name, trial)


def test_discretized_gradients_finite_at_the_edges():
  x = np.array([[0.0, 1.0]], np.float32)
  for lik, width in ((likelihoods.DiscretizedLogistic(num_mixtures=2), 12),
                     (likelihoods.DiscretizedGaussian(), 4)):
    for loc, log_scale in ((0.0, 0.0), (5.0, -20.0), (-5.0, -20.0),
                           (1.0, 6.0), (-1.0, -7.0), (30.0, 0.0)):
      params = np.zeros((1, width), np.float32)
      third = width // (3 if width == 12 else 2)
      params[:, -2 * third:-third] = loc
      params[:, -third:] = log_scale
      assert finite_gradient(lik, x, params), (lik.likelihood_name, loc,
                                               log_scale)


def test_discretized_sample_draws_levels():
  lik = likelihoods.DiscretizedLogistic(num_mixtures=2, num_bits=5)
  params = RNG.normal(size=(50, 12)).astype(np.float32)
  draws = lik.sample(params, seed=3).numpy()
  assert draws.shape == (50, 2)
  assert draws.min() >= 0 and draws.max() <= 1
  np.testing.assert_allclose(draws * 31, np.round(draws * 31), atol=1e-4)
  assert lik.check_data(draws) == []
  gauss = likelihoods.DiscretizedGaussian()
  draws = gauss.sample(RNG.normal(size=(50, 4)).astype(np.float32), seed=3)
  assert gauss.check_data(draws.numpy()) == []


# ------------------------------------------------------ discretised Gaussian


def binned_normal_log_prob(levels, loc, log_scale, max_level=255):
  """log of the Normal's mass on the level's bin (edges open), float64."""
  y = 2.0 * np.float64(levels) / max_level - 1.0
  s = np.exp(np.maximum(np.float64(log_scale), -7.0))
  upper = stats.norm.cdf(y + 1.0 / max_level, loc, s)
  lower = stats.norm.cdf(y - 1.0 / max_level, loc, s)
  upper_sf = stats.norm.sf(y + 1.0 / max_level, loc, s)
  lower_sf = stats.norm.sf(y - 1.0 / max_level, loc, s)
  mass = np.where(y > loc, lower_sf - upper_sf, upper - lower)
  # Far in a tail the float64 CDFs underflow: take their logs there.
  high = np.where(y > loc, -(y - 1.0 / max_level - loc) / s,
                  (y + 1.0 / max_level - loc) / s)
  low = high - 2.0 / max_level / s
  with np.errstate(divide="ignore"):
    log_mass = np.where(
        mass > 1e-250, np.log(np.maximum(mass, 1e-300)),
        special.log_ndtr(high) +
        np.log(-np.expm1(special.log_ndtr(low) - special.log_ndtr(high))))
  return np.where(levels == 0, stats.norm.logcdf(y + 1.0 / max_level, loc, s),
                  np.where(levels == max_level,
                           stats.norm.logsf(y - 1.0 / max_level, loc, s),
                           log_mass))


@pytest.mark.parametrize("log_scale_range", [(-5.0, -1.0), (-1.0, 3.0)])
def test_discretized_gaussian_matches_scipy(log_scale_range):
  # Wide scales take the narrow-bin (midpoint) branch, small ones the exact.
  lik = likelihoods.DiscretizedGaussian()
  levels = RNG.randint(0, 256, size=(40, 6))
  levels[0] = 0
  levels[1] = 255
  loc = RNG.uniform(-1.2, 1.2, size=(40, 6)).astype(np.float32)
  log_scale = RNG.uniform(*log_scale_range, size=(40, 6)).astype(np.float32)
  params = np.concatenate([loc, log_scale], axis=-1)
  expected = -binned_normal_log_prob(levels, loc, log_scale)
  got = lik.nll((levels / 255.0).astype(np.float32), params).numpy()
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(
      lik.mean(params).numpy(), np.clip(0.5 * (loc + 1.0), 0, 1), rtol=1e-6)


def test_discretized_gaussian_branches_join():
  # log scales sweep the switch between the exact and the midpoint forms.
  lik = likelihoods.DiscretizedGaussian()
  levels = np.repeat(np.arange(256)[:, None], 81, axis=1)
  log_scale = np.broadcast_to(np.linspace(-6.0, 2.0, 81, dtype=np.float32),
                              levels.shape)
  loc = np.full(levels.shape, 0.3, np.float32)
  params = np.concatenate([loc, log_scale], axis=-1)
  expected = -binned_normal_log_prob(levels, loc, log_scale)
  got = lik.nll((levels / 255.0).astype(np.float32), params).numpy()
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
  # TFP's binned Normal (used for draws) is the same distribution.
  moderate = np.s_[:, 30:60]
  wide = np.concatenate([loc[moderate], log_scale[moderate]], axis=-1)
  tfp_nll = -lik.distribution(wide).log_prob(
      levels[moderate].astype(np.float32)).numpy()
  np.testing.assert_allclose(tfp_nll, expected[moderate], rtol=2e-4,
                             atol=2e-4)


def test_discretized_data_and_settings_checks():
  for lik in (likelihoods.DiscretizedLogistic(),
              likelihoods.DiscretizedGaussian()):
    assert lik.check_data(np.arange(256) / 255.0) == []
    for bad, words in ((np.arange(256) / 256.0, "off that grid"),
                       (np.arange(256, dtype=np.float64), "divide by 255"),
                       (np.array([0.0, np.nan]), "NaN"),
                       (np.array([-2.0, 0.0]), "gaussian")):
      with pytest.raises(DataError, match=words) as info:
        lik.check_data(bad, "x")
      assert info.value.params == ("x",)
    with pytest.raises(DataError, match="off that grid"):
      likelihoods.DiscretizedGaussian(num_bits=4).check_data(
          np.arange(256) / 255.0)
  logistic = likelihoods.DiscretizedLogistic
  fields = {f.name for f in dataclasses.fields(logistic.Settings)}
  assert fields == {"num_mixtures", "num_bits"}
  for name, value in (("num_bits", 0), ("num_bits", 17), ("num_bits", 2.5),
                      ("num_bits", True), ("num_mixtures", 0),
                      ("num_mixtures", "3")):
    values = {"num_mixtures": 10, "num_bits": 8, name: value}
    with pytest.raises(ConfigError) as info:
      logistic.check_settings(logistic.Settings(**values))
    assert info.value.params == (name,)
  with pytest.raises(ConfigError) as info:
    likelihoods.DiscretizedGaussian.check_settings(
        likelihoods.DiscretizedGaussian.Settings(num_bits=40))
  assert info.value.params == ("num_bits",)
  # One `num_bits` setting serves both families.
  _, users = base.settings_fields()["num_bits"]
  assert set(users) == {"discretized_logistic", "discretized_gaussian"}
  built = logistic.from_settings(logistic.Settings(num_mixtures=3, num_bits=5))
  assert (built.num_mixtures, built.max_level) == (3, 31)
  assert built.params_shape((4, 4, 3)) == (4, 4, 27)


# ------------------------------------------------------------------ columns


def table_rows(n):
  gaussian = RNG.normal(size=(n, 4))
  binary = (RNG.uniform(size=(n, 3)) < 0.4).astype(np.float64)
  codes = np.stack([RNG.randint(0, 4, size=n), RNG.randint(0, 3, size=n)], 1)
  return np.concatenate([gaussian, binary, codes], axis=1).astype(np.float32)


def test_columns_match_scipy_and_numpy():
  lik = likelihoods.Columns(TABLE)
  assert lik.params_shape((9,)) == (14,)
  raw = np.array([0.3, -0.5, 0.0, -7.5], np.float32)
  lik.raw_log_sigma.assign(raw)
  x = table_rows(8)
  params = RNG.normal(size=(8, 14)).astype(np.float32)
  sigma = np.exp(-6.0 + softplus(np.float64(raw) + 6.0))
  expected = np.concatenate([
      -stats.norm.logpdf(x[:, :4], params[:, :4], sigma),
      -stats.bernoulli.logpmf(x[:, 4:7], special.expit(params[:, 4:7])),
      -special.log_softmax(np.float64(params[:, 7:11]), axis=-1)[
          np.arange(8), x[:, 7].astype(int)][:, None],
      -special.log_softmax(np.float64(params[:, 11:14]), axis=-1)[
          np.arange(8), x[:, 8].astype(int)][:, None]], axis=1)
  got = lik.nll(x, params).numpy()
  assert got.shape == (8, 9)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(lik.distribution(params).log_prob(x).numpy(),
                             -expected.sum(1), rtol=1e-5)
  mean = lik.mean(params).numpy()
  np.testing.assert_allclose(mean[:, :4], params[:, :4])
  np.testing.assert_allclose(mean[:, 4:7], special.expit(params[:, 4:7]),
                             rtol=1e-5)
  np.testing.assert_array_equal(mean[:, 7], params[:, 7:11].argmax(-1))
  np.testing.assert_array_equal(mean[:, 8], params[:, 11:14].argmax(-1))
  scalars = lik.summaries(params, x)
  assert set(scalars) == {"distortion_gaussian", "distortion_bernoulli",
                          "distortion_categorical"} == set(lik.scalar_names)
  np.testing.assert_allclose(scalars["distortion_categorical"].numpy(),
                             expected[:, 7:].sum(1).mean(), rtol=1e-5)
  np.testing.assert_allclose(sum(float(v) for v in scalars.values()),
                             expected.sum(1).mean(), rtol=1e-5)
  assert finite_gradient(lik, x, params)


def test_columns_categorical_normalised_and_samples_in_range():
  lik = likelihoods.Columns("categorical:5,bernoulli:1")
  params = RNG.normal(size=(1, 6)).astype(np.float32)
  rows = np.array([[k, b] for k in range(5) for b in (0, 1)], np.float32)
  nll = lik.nll(rows, np.broadcast_to(params, (10, 6))).numpy().sum(1)
  np.testing.assert_allclose(np.exp(-nll.astype(np.float64)).sum(), 1.0,
                             rtol=1e-6)
  draws = likelihoods.Columns(TABLE).sample(
      RNG.normal(size=(40, 14)).astype(np.float32), seed=1).numpy()
  assert draws.shape == (40, 9)
  assert likelihoods.Columns(TABLE).check_data(draws) == []


def test_columns_spec_errors_name_columns():
  assert columns_lib.parse_columns(TABLE) == (
      ("gaussian", 4), ("bernoulli", 3), ("categorical", 4),
      ("categorical", 3))
  assert columns_lib.parse_columns([("gaussian", 2)]) == (("gaussian", 2),)
  for spec in ("gaussian", "poisson:3", "categorical:1", "gaussian:0",
               "gaussian:2.5", "", " , ", [("gaussian",)], 3):
    with pytest.raises(ConfigError) as info:
      likelihoods.Columns(spec)
    assert info.value.params == ("columns",), spec
  settings = likelihoods.Columns.Settings
  likelihoods.Columns.check_settings(settings(columns=""))
  with pytest.raises(ConfigError) as info:
    likelihoods.Columns.check_settings(settings(columns="gaussian:-1"))
  assert info.value.params == ("columns",)
  with pytest.raises(ConfigError, match="declares no columns"):
    likelihoods.Columns.from_settings(settings(columns=""), (9,), None)
  data = types.SimpleNamespace(columns=TABLE)
  built = likelihoods.Columns.from_settings(settings(columns=""), (9,), data)
  assert built.columns == TABLE
  with pytest.raises(ConfigError, match="9 values.*\\(10,\\)") as info:
    likelihoods.Columns.from_settings(settings(columns=TABLE), (10,), None)
  assert info.value.params == ("columns",)
  with pytest.raises(ValueError, match="9 values.*\\(8,\\)"):
    built.params_shape((8,))


def test_columns_data_checks():
  lik = likelihoods.Columns(TABLE)
  good = table_rows(6)
  assert lik.check_data(good) == []
  cases = []
  cases.append((good[:, :8], "9 values.*rows of 8"))
  bad = good.copy()
  bad[0, 5] = 0.5
  cases.append((bad, "bernoulli"))
  for code in (4.0, 1.5, -1.0):
    bad = good.copy()
    bad[1, 7] = code
    cases.append((bad, "categorical:4"))
  bad = good.copy()
  bad[2, 0] = np.nan
  cases.append((bad, "NaN"))
  for data, words in cases:
    with pytest.raises(DataError, match=words) as info:
      lik.check_data(data, "validation_data")
    assert info.value.params == ("validation_data",)


# ------------------------------------------------ serialisation and exports


FAMILIES = {
    "beta": lambda: likelihoods.Beta(clip=1e-3),
    "discretized_logistic":
        lambda: likelihoods.DiscretizedLogistic(num_mixtures=3, num_bits=5),
    "discretized_gaussian": lambda: likelihoods.DiscretizedGaussian(num_bits=6),
    "columns": lambda: likelihoods.Columns(TABLE),
}


def family_batch(name, n=16):
  """(event shape, data of the family's form)."""
  if name == "beta":
    x = RNG.uniform(0.01, 0.99, size=(n, 6)).astype(np.float32)
    x[0, 0], x[1, 1] = 0.0, 1.0  # clipped to [1e-4, 1 - 1e-4]
    return (6,), x
  if name == "discretized_logistic":
    return (4, 4, 2), (RNG.randint(0, 32, size=(n, 4, 4, 2)) / 31.0).astype(
        np.float32)
  if name == "discretized_gaussian":
    return (8,), (RNG.randint(0, 64, size=(n, 8)) / 63.0).astype(np.float32)
  return (9,), table_rows(n)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_serialisation_and_description_round_trip(name):
  lik = FAMILIES[name]()
  event_shape, x = family_batch(name, 4)
  lik.build_for(event_shape)
  if name == "columns":
    lik.raw_log_sigma.assign([0.1, 0.2, -0.3, 0.4])
  params = RNG.normal(size=(4,) + lik.params_shape(event_shape)).astype(
      np.float32)
  copy = keras.saving.deserialize_keras_object(
      keras.saving.serialize_keras_object(lik))
  assert type(copy) is type(lik) and copy.get_config() == lik.get_config()
  description = json.loads(json.dumps(lik.describe()))
  rebuilt = likelihoods.from_description(description)
  assert rebuilt.get_config() == lik.get_config()
  if name == "columns":
    for other in (copy, rebuilt):
      other.raw_log_sigma.assign(lik.raw_log_sigma)
  for other in (copy, rebuilt):
    np.testing.assert_allclose(other.nll(x, params).numpy(),
                               lik.nll(x, params).numpy(), rtol=1e-6)
  entry = type(lik).translator_entry()
  assert set(entry) == {"reconstruction", "weight"}


@keras.saving.register_keras_serializable(package="tfvae_test")
class Holder(keras.Model):
  """A model with a likelihood attribute, saved and loaded by Keras."""

  def __init__(self, likelihood, width, **kwargs):
    super().__init__(**kwargs)
    if isinstance(likelihood, dict):
      likelihood = keras.saving.deserialize_keras_object(likelihood)
    self.likelihood = likelihood
    self.width = width
    self.dense = keras.layers.Dense(width)

  def call(self, x):
    return self.dense(x)

  def get_config(self):
    return {"likelihood": keras.saving.serialize_keras_object(
        self.likelihood), "width": self.width, "name": self.name}


def test_learned_sigmas_are_saved_with_a_model(tmp_path):
  model = Holder(likelihoods.Columns(TABLE), 14)
  model(np.zeros((1, 9), np.float32))
  model.likelihood.raw_log_sigma.assign([0.5, -1.0, 2.0, -3.0])
  path = str(tmp_path / "holder.keras")
  model.save(path)
  loaded = keras.saving.load_model(path)
  np.testing.assert_allclose(loaded.likelihood.raw_log_sigma.numpy(),
                             [0.5, -1.0, 2.0, -3.0])
  x = table_rows(3)
  np.testing.assert_allclose(
      loaded.likelihood.nll(x, loaded(x)).numpy(),
      model.likelihood.nll(x, model(x)).numpy(), rtol=1e-6)


# ------------------------------------------------------------------ training


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_tiny_vae_trains_with_a_finite_loss(name):
  tf.keras.utils.set_random_seed(0)
  lik = FAMILIES[name]()
  event_shape, x = family_batch(name, 32)
  # Only the Beta warns, about its clipped end points.
  assert len(lik.check_data(x)) == (name == "beta")
  params_shape = lik.params_shape(event_shape)
  encoder = keras.Sequential([keras.Input(event_shape), keras.layers.Flatten(),
                              keras.layers.Dense(4)])
  decoder = keras.Sequential([keras.Input((2,)),
                              keras.layers.Dense(int(np.prod(params_shape))),
                              keras.layers.Reshape(params_shape)])
  vae = tfvae.VAE(encoder, decoder, likelihood=lik)
  vae.compile(optimizer="adam")
  history = vae.fit(x, batch_size=8, epochs=2, verbose=0)
  losses = history.history["loss"]
  assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
  assert all(np.all(np.isfinite(v.numpy())) for v in vae.trainable_variables)
  if name == "columns":
    assert len(lik.trainable_variables) == 1
    assert any(v is lik.raw_log_sigma for v in vae.trainable_variables)
