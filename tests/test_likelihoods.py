"""Each likelihood's log-prob against an independent closed form (numpy/scipy)."""

import math

import numpy as np
import pytest
import tensorflow as tf
from scipy import special
from scipy import stats

from tfvae import likelihoods

RNG = np.random.RandomState(3)
SHAPE = (4, 5, 5, 2)
X_UNIT = RNG.uniform(size=SHAPE).astype(np.float32)
X_BIN = (RNG.uniform(size=SHAPE) < 0.5).astype(np.float32)
LOGITS = RNG.normal(scale=2.0, size=SHAPE).astype(np.float32)


def numpy_softclip(t, m=-6.0):
  return m + np.logaddexp(0.0, t - m)


def test_bernoulli_matches_closed_form():
  lik = likelihoods.make_likelihood("bernoulli")
  p = special.expit(LOGITS.astype(np.float64))
  expected = -stats.bernoulli.logpmf(X_BIN, p)
  np.testing.assert_allclose(lik.nll(X_BIN, LOGITS).numpy(), expected,
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(lik.mean(LOGITS).numpy(), p, rtol=1e-5)


def test_bernoulli_on_grey_levels_is_the_bce():
  lik = likelihoods.make_likelihood("bernoulli")
  p = special.expit(LOGITS.astype(np.float64))
  bce = -(X_UNIT * np.log(p) + (1 - X_UNIT) * np.log(1 - p))
  np.testing.assert_allclose(lik.nll(X_UNIT, LOGITS).numpy(), bce, rtol=1e-5,
                             atol=1e-6)


def numpy_continuous_bernoulli_log_prob(x, logits):
  """log C(lam) + x log lam + (1 - x) log(1 - lam), C(lam) = 2 atanh(1-2lam)/(1-2lam).

  With lam = sigmoid(l), 1 - 2 lam = -tanh(l/2) and atanh of it is -l/2, so
  C = l / tanh(l/2) (-> 2 as l -> 0); written in the logit for stability.
  """
  x = np.asarray(x, np.float64)
  l = np.asarray(logits, np.float64)
  safe = np.where(np.abs(l) < 1e-8, 1.0, l)
  log_c = np.where(np.abs(l) < 1e-8, math.log(2.0),
                   np.log(safe / np.tanh(safe / 2)))
  log_lam = -np.logaddexp(0.0, -l)
  log_one_minus_lam = -np.logaddexp(0.0, l)
  return log_c + x * log_lam + (1 - x) * log_one_minus_lam


def test_continuous_bernoulli_matches_closed_form():
  lik = likelihoods.make_likelihood("continuous_bernoulli")
  expected = -numpy_continuous_bernoulli_log_prob(X_UNIT, LOGITS)
  np.testing.assert_allclose(lik.nll(X_UNIT, LOGITS).numpy(), expected,
                             rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("logit", [0.0, 1e-6, -1e-6, 1e-3, 0.2, 0.3, 5.0,
                                   50.0, -50.0])
def test_continuous_bernoulli_finite_and_continuous_near_the_singularity(logit):
  lik = likelihoods.make_likelihood("continuous_bernoulli")
  x = np.array([0.0, 0.3, 1.0], np.float32)
  logits = np.full(3, logit, np.float32)
  value = lik.nll(x, logits).numpy()
  assert np.all(np.isfinite(value))
  np.testing.assert_allclose(value,
                             -numpy_continuous_bernoulli_log_prob(x, logits),
                             rtol=1e-3, atol=1e-3)
  # The normaliser at logits 0 is C(1/2) = 2.
  if logit == 0.0:
    np.testing.assert_allclose(-value, math.log(2) + np.log(0.5), atol=1e-6)


def test_continuous_bernoulli_mean_is_not_lambda():
  lik = likelihoods.make_likelihood("continuous_bernoulli")
  logits = np.array([2.0], np.float32)
  lam = special.expit(2.0)
  expected = lam / (2 * lam - 1) + 1 / (2 * np.arctanh(1 - 2 * lam))
  np.testing.assert_allclose(lik.mean(logits).numpy(), [expected], rtol=1e-5)
  assert abs(expected - lam) > 0.05


def test_gaussian_fixed_sigma():
  lik = likelihoods.make_likelihood("gaussian", sigma="0.3", channels=2)
  mu = special.expit(LOGITS.astype(np.float64))
  expected = -stats.norm.logpdf(X_UNIT, loc=mu, scale=0.3)
  np.testing.assert_allclose(lik.nll(X_UNIT, LOGITS).numpy(), expected,
                             rtol=1e-5, atol=1e-5)


def test_gaussian_learned_shared_sigma_is_softclipped_and_trainable():
  lik = likelihoods.make_likelihood("gaussian", sigma="learned", channels=2)
  lik.raw_log_sigma.assign(-7.5)
  log_sigma = numpy_softclip(-7.5)
  assert log_sigma > -6.0
  mu = special.expit(LOGITS.astype(np.float64))
  expected = (0.5 * ((X_UNIT - mu) / np.exp(log_sigma))**2 + log_sigma +
              0.5 * math.log(2 * math.pi))
  np.testing.assert_allclose(lik.nll(X_UNIT, LOGITS).numpy(), expected,
                             rtol=1e-4)
  assert [v.name for v in lik.trainable_weights] == ["log_sigma"]


def test_gaussian_learned_per_channel_sigma():
  lik = likelihoods.make_likelihood("gaussian", sigma="learned_channel",
                                    channels=2)
  lik.raw_log_sigma.assign([0.3, -1.0])
  sigma = np.exp(numpy_softclip(np.array([0.3, -1.0])))
  mu = special.expit(LOGITS.astype(np.float64))
  expected = -stats.norm.logpdf(X_UNIT, loc=mu, scale=sigma)
  np.testing.assert_allclose(lik.nll(X_UNIT, LOGITS).numpy(), expected,
                             rtol=1e-4)


def test_gaussian_learned_per_pixel_sigma_from_the_decoder():
  lik = likelihoods.make_likelihood("gaussian", sigma="learned_pixel",
                                    channels=2)
  assert lik.params_channels(2) == 4
  raw_log_sigma = RNG.normal(size=SHAPE).astype(np.float32)
  params = np.concatenate([LOGITS, raw_log_sigma], axis=-1)
  mu = special.expit(LOGITS.astype(np.float64))
  sigma = np.exp(numpy_softclip(raw_log_sigma.astype(np.float64)))
  expected = -stats.norm.logpdf(X_UNIT, loc=mu, scale=sigma)
  np.testing.assert_allclose(lik.nll(X_UNIT, params).numpy(), expected,
                             rtol=1e-4)


def test_gaussian_optimal_sigma_is_root_batch_mse():
  lik = likelihoods.make_likelihood("gaussian", sigma="optimal", channels=2)
  mu = special.expit(LOGITS.astype(np.float64))
  sigma = math.sqrt(np.mean((X_UNIT - mu)**2))
  got = float(lik.sigma_tensor(tf.constant(LOGITS), tf.constant(X_UNIT)))
  assert got == pytest.approx(sigma, rel=1e-5)
  expected = -stats.norm.logpdf(X_UNIT, loc=mu, scale=sigma)
  np.testing.assert_allclose(lik.nll(X_UNIT, LOGITS).numpy(), expected,
                             rtol=1e-4)


def test_optimal_sigma_maximises_the_shared_sigma_likelihood():
  """sigma* = sqrt(MSE) beats nearby fixed sigmas on the summed log-likelihood."""
  mu = special.expit(LOGITS.astype(np.float64))
  best = math.sqrt(np.mean((X_UNIT - mu)**2))
  def total(s):
    return np.sum(stats.norm.logpdf(X_UNIT, loc=mu, scale=s))
  assert total(best) > total(best * 1.05)
  assert total(best) > total(best * 0.95)
