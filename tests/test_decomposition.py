"""Tests of the MI / TC / dimension-wise KL decomposition of the rate.

The references are written here in NumPy from the formulas of Chen et al. 2018
(Sec. 4.1 and App. C.2) with explicit loops, independently of the code.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfvae.objectives import decomposition


def numpy_weights(m, n, estimator):
  """w_im, element by element."""
  w = np.empty((m, m))
  for i in range(m):
    for k in range(m):
      if estimator == "mws":
        w[i, k] = 1.0 / (n * m)
      elif k == i:
        w[i, k] = 1.0 / n
      elif k == (i + 1) % m:
        w[i, k] = (n - (m - 1)) / (n * (m - 1))
      else:
        w[i, k] = 1.0 / (m - 1)
  return w


def numpy_normal_pdf(z, mean, variance):
  return np.exp(-0.5 * (z - mean)**2 / variance) / np.sqrt(2 * np.pi * variance)


def numpy_parts(z, mean, log_var, n, estimator="mss"):
  """Per-example (MI, TC, dimKL, MC KL) in float64, with densities (not logs)."""
  z, mean, var = (np.asarray(a, np.float64) for a in (z, mean, np.exp(log_var)))
  m, dims = z.shape
  w = numpy_weights(m, n, estimator)
  mi, tc, dk, mc = (np.zeros(m) for _ in range(4))
  for i in range(m):
    own = np.prod(numpy_normal_pdf(z[i], mean[i], var[i]))
    prior = np.prod(numpy_normal_pdf(z[i], 0.0, 1.0))
    joint = sum(w[i, k] * np.prod(numpy_normal_pdf(z[i], mean[k], var[k]))
                for k in range(m))
    marginals = [sum(w[i, k] * numpy_normal_pdf(z[i, j], mean[k, j], var[k, j])
                     for k in range(m)) for j in range(dims)]
    product = np.prod(marginals)
    mi[i] = math.log(own / joint)
    tc[i] = math.log(joint / product)
    dk[i] = math.log(product / prior)
    mc[i] = math.log(own / prior)
  return mi, tc, dk, mc


# A hand-sized batch: 4 examples, 2 latent dimensions, a data set of 10.
MEANS = np.array([[0.0, 0.5], [1.0, -0.5], [-0.5, 0.25], [0.25, 1.5]])
LOG_VARS = np.log(np.array([[1.0, 0.25], [0.5, 0.5], [0.25, 1.0],
                            [0.75, 0.5]]))
SAMPLES = np.array([[0.1, 0.4], [0.8, -0.9], [-0.3, 0.0], [0.5, 1.2]])


def test_weights_match_the_definitions():
  for m, n in ((2, 2), (4, 10), (5, 5), (7, 1000)):
    for estimator in ("mss", "mws"):
      got = np.exp(decomposition.log_importance_weights(
          m, n, estimator, tf.float64).numpy())
      np.testing.assert_allclose(got, numpy_weights(m, n, estimator),
                                 rtol=1e-12)
  # Every MSS row sums to 1: an importance-weighted estimate of q(z).
  rows = np.exp(decomposition.log_importance_weights(6, 50).numpy()).sum(1)
  np.testing.assert_allclose(rows, 1.0, rtol=1e-6)


def test_weights_with_a_batch_size_known_only_at_run_time():
  fn = tf.function(lambda m: decomposition.log_importance_weights(m, 10),
                   input_signature=[tf.TensorSpec([], tf.int32)])
  np.testing.assert_allclose(np.exp(fn(tf.constant(4)).numpy()),
                             numpy_weights(4, 10, "mss"), rtol=1e-6)


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_hand_computed_batch(estimator):
  mi, tc, dk, _ = numpy_parts(SAMPLES, MEANS, LOG_VARS, 10, estimator)
  got = decomposition.decompose_per_example(
      tf.constant(SAMPLES), tf.constant(MEANS), tf.constant(LOG_VARS), 10,
      estimator)
  np.testing.assert_allclose(got["index_code_mi"].numpy(), mi, rtol=1e-10)
  np.testing.assert_allclose(got["total_correlation"].numpy(), tc, rtol=1e-10)
  np.testing.assert_allclose(got["dimwise_kl"].numpy(), dk, rtol=1e-10)
  means = decomposition.decompose(
      tf.constant(SAMPLES, tf.float32), tf.constant(MEANS, tf.float32),
      tf.constant(LOG_VARS, tf.float32), 10, estimator)
  for name, reference in zip(decomposition.PARTS, (mi, tc, dk)):
    assert float(means[name]) == pytest.approx(reference.mean(), abs=1e-5)


def test_mws_differs_from_mss_by_the_known_bias_when_posteriors_are_apart():
  # Far-apart posteriors: only the own term counts in each logsumexp, so MWS's
  # MI exceeds MSS's by log M and its TC by (J - 1) log M.
  means = np.array([[0.0, 0.0], [40.0, 80.0], [-40.0, -80.0]])
  log_vars = np.zeros_like(means)
  z = means + 0.1
  args = (tf.constant(z), tf.constant(means), tf.constant(log_vars), 100)
  mss = decomposition.decompose(*args, estimator="mss")
  mws = decomposition.decompose(*args, estimator="mws")
  assert float(mss["index_code_mi"]) == pytest.approx(math.log(100), abs=1e-9)
  assert float(mws["index_code_mi"] - mss["index_code_mi"]) == pytest.approx(
      math.log(3), abs=1e-9)
  assert float(mws["total_correlation"] - mss["total_correlation"]) == \
      pytest.approx(math.log(3), abs=1e-9)


@pytest.mark.parametrize("dtype,tolerance", [(tf.float32, 2e-5),
                                             (tf.float64, 1e-12)])
def test_parts_add_up_to_the_monte_carlo_kl_of_the_same_samples(dtype,
                                                                 tolerance):
  rng = np.random.default_rng(0)
  means = rng.normal(size=(64, 6))
  log_vars = rng.normal(-1.0, 0.5, size=(64, 6))
  z = means + np.exp(0.5 * log_vars) * rng.normal(size=means.shape)
  args = [tf.constant(a, dtype) for a in (z, means, log_vars)]
  for estimator in ("mss", "mws"):
    parts = decomposition.decompose_per_example(*args, 1000, estimator)
    total = sum(parts[name].numpy().astype(np.float64)
                for name in decomposition.PARTS)
    # The Monte Carlo KL of each sample, written out here.
    var = np.exp(log_vars)
    mc = np.sum(-0.5 * np.log(var) - 0.5 * (z - means)**2 / var + 0.5 * z**2,
                axis=1)
    np.testing.assert_allclose(total, mc, rtol=tolerance,
                               atol=tolerance * 10)


def test_sum_is_within_three_standard_errors_of_the_analytic_rate():
  rng = np.random.default_rng(1)
  n, batch, repeats, dims = 256, 256, 40, 4
  means = rng.normal(0.0, 0.8, size=(n, dims))
  log_vars = rng.normal(-1.0, 0.3, size=(n, dims))
  var = np.exp(log_vars)
  analytic = np.mean(np.sum(0.5 * (means**2 + var - 1 - log_vars), axis=1))
  totals = []
  for _ in range(repeats):
    z = means + np.sqrt(var) * rng.normal(size=means.shape)
    parts = decomposition.decompose_per_example(
        tf.constant(z), tf.constant(means), tf.constant(log_vars), n)
    totals.append(sum(parts[k].numpy() for k in decomposition.PARTS))
  totals = np.concatenate(totals)
  assert totals.size == n * repeats and batch == n
  standard_error = totals.std(ddof=1) / math.sqrt(totals.size)
  assert abs(totals.mean() - analytic) < 3 * standard_error


def _mean_parts(means, variance, data_rng, batch=500, batches=8):
  """Batch-averaged parts over random batches of a data set of posteriors."""
  n = means.shape[0]
  sums = np.zeros(3)
  for _ in range(batches):
    index = data_rng.choice(n, batch, replace=False)
    mu = means[index]
    z = mu + math.sqrt(variance) * data_rng.normal(size=mu.shape)
    log_var = np.full_like(mu, math.log(variance))
    parts = decomposition.decompose(tf.constant(z), tf.constant(mu),
                                    tf.constant(log_var), n)
    sums += [float(parts[k]) for k in decomposition.PARTS]
  return sums / batches


def test_total_correlation_near_zero_for_a_factorised_aggregate():
  rng = np.random.default_rng(2)
  # mu ~ N(0, 0.5 I), sigma^2 = 0.5: q(z) ~ N(0, I), factorised.
  means = rng.normal(0.0, math.sqrt(0.5), size=(20000, 2))
  _, tc, _ = _mean_parts(means, 0.5, rng)
  assert abs(tc) < 0.05


def test_total_correlation_positive_for_a_correlated_aggregate():
  rng = np.random.default_rng(3)
  # Cov[mu] = 0.9 [[1, rho], [rho, 1]], sigma^2 = 0.1: q(z) ~ N(0, C) with
  # correlation 0.9 rho; a Gaussian's TC is -1/2 log(1 - r^2) = 0.58 nats.
  rho = 0.95
  cov = 0.9 * np.array([[1.0, rho], [rho, 1.0]])
  means = rng.multivariate_normal(np.zeros(2), cov, size=20000)
  _, tc, _ = _mean_parts(means, 0.1, rng)
  gaussian_tc = -0.5 * math.log(1 - (0.9 * rho)**2)
  assert tc > 0.3
  assert tc == pytest.approx(gaussian_tc, abs=0.15)


def test_bad_arguments_are_named():
  with pytest.raises(ValueError, match="estimator"):
    decomposition.log_importance_weights(4, 10, "iwae")
  with pytest.raises(ValueError, match="dataset_size"):
    decomposition.log_importance_weights(4, 0)
  with pytest.raises(ValueError, match="larger than dataset_size"):
    decomposition.log_importance_weights(8, 4)
  with pytest.raises(ValueError, match="at least 2"):
    decomposition.log_importance_weights(1, 4)


def test_diagnostic_of_a_run_splits_the_rate_reproducibly():
  from tfvae.metrics import diagnostics  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(7)
  count, dims = 600, 3
  means = rng.normal(0.0, 1.0, size=(count, dims))
  log_vars = rng.normal(-0.5, 0.3, size=(count, dims))
  first = diagnostics.kl_parts(means, log_vars)
  assert first == diagnostics.kl_parts(means, log_vars)
  # 600 examples: three batches of 200 (at most 256 each).
  assert first["kl_parts_batch"] == 200
  # The parts add up to the mean Monte Carlo KL of the same draws.
  eps = tf.random.stateless_normal(means.shape, seed=[diagnostics.KL_PARTS_SEED,
                                                      0], dtype=tf.float64)
  var = np.exp(log_vars)
  z = means + np.sqrt(var) * eps.numpy()
  mc = np.sum(-0.5 * np.log(var) - 0.5 * (z - means)**2 / var + 0.5 * z**2,
              axis=1)
  total = sum(first[k] for k in decomposition.PARTS)
  assert total == pytest.approx(mc.mean(), abs=1e-10)
  analytic = np.sum(0.5 * (means**2 + var - 1 - log_vars), axis=1)
  assert abs(total - analytic.mean()) < 3 * mc.std(ddof=1) / math.sqrt(count)
  assert all(first[k] > -1e-3 for k in ("index_code_mi", "dimwise_kl"))
  assert math.isnan(diagnostics.kl_parts(means[:1], log_vars[:1])[
      "total_correlation"])
