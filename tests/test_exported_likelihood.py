"""log p(x|z) of an export from its `decode` outputs, against closed forms."""

import math

import numpy as np
import pytest

from tfvae.export.reader import ExportedLikelihood

RNG = np.random.RandomState(0)
PARAMS = RNG.normal(size=(2, 4, 4, 3)).astype(np.float32)
X = RNG.uniform(size=(2, 4, 4, 3)).astype(np.float32)
SIGMOID = 1 / (1 + np.exp(-PARAMS.astype(np.float64)))


def _normal_log_pdf(x, mean, sigma):
  return (-0.5 * ((x - mean) / sigma)**2 - np.log(sigma) -
          0.5 * math.log(2 * math.pi))


def _per_example(values):
  return values.reshape(values.shape[0], -1).sum(axis=1)


def _log_likelihood(name, sigma="learned", scale=None):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  decoded = {"params": tf.constant(PARAMS), "mean": tf.sigmoid(PARAMS)}
  if scale is not None:
    decoded["scale"] = tf.constant(np.broadcast_to(scale, PARAMS.shape),
                                   tf.float32)
  likelihood = ExportedLikelihood({"likelihood": name, "sigma": sigma,
                                   "mean": "sigmoid"})
  return likelihood.log_likelihood(tf.constant(X), decoded).numpy()


def test_gaussian_with_a_shared_sigma_per_channel():
  scale = np.array([0.3, 0.5, 0.9], np.float32)
  expected = _per_example(_normal_log_pdf(X, SIGMOID, scale))
  np.testing.assert_allclose(_log_likelihood("gaussian", "learned_channel",
                                             scale), expected, rtol=1e-5)


def test_gaussian_with_a_fixed_sigma_and_the_reference_l2():
  expected = _per_example(_normal_log_pdf(X, SIGMOID, 0.1))
  np.testing.assert_allclose(_log_likelihood("gaussian", "0.1"), expected,
                             rtol=1e-5)
  expected = _per_example(_normal_log_pdf(X, SIGMOID, math.sqrt(0.5)))
  np.testing.assert_allclose(_log_likelihood("reference_l2"), expected,
                             rtol=1e-5)


@pytest.mark.parametrize("name", ["bernoulli", "reference_bce"])
def test_bernoulli_cross_entropy(name):
  expected = _per_example(X * np.log(SIGMOID) + (1 - X) * np.log(1 - SIGMOID))
  np.testing.assert_allclose(_log_likelihood(name), expected, rtol=1e-5)


def test_unknown_likelihood_names_itself():
  with pytest.raises(ValueError, match="'poisson' is not known"):
    ExportedLikelihood({"likelihood": "poisson"})
