"""Tests of the free-bits KL term (batch and per-example variants)."""

import numpy as np
import pytest
import tensorflow as tf

from tfvae.balancing.free_bits import free_bits_kl
from tfvae.errors import ConfigError

# Dimension 0: every example below 0.25. Dimension 1: mixed, batch mean
# 0.15 < 0.25. Dimension 2: every example above. Dimension 3: mixed, batch
# mean 0.45 > 0.25.
KL = np.array([[0.10, 0.05, 0.60, 0.10],
               [0.05, 0.25, 0.90, 0.80],
               [0.20, 0.15, 0.30, 0.45]], np.float32)
LAMBDA = 0.25


def _kl_and_gradient(kl_values, free_bits, mode):
  """The term and its gradient w.r.t. each KL_ij (KL = parameters)."""
  kl = tf.Variable(kl_values)
  with tf.GradientTape() as tape:
    value = free_bits_kl(kl, free_bits, mode)
  return value.numpy(), tape.gradient(value, kl).numpy()


def test_batch_mode_formula():
  expected = np.maximum(LAMBDA, KL.mean(axis=0)).sum()
  value, _ = _kl_and_gradient(KL, LAMBDA, "batch")
  assert value == pytest.approx(expected, rel=1e-6)


def test_example_mode_formula():
  expected = np.maximum(LAMBDA, KL).sum(axis=1).mean()
  value, _ = _kl_and_gradient(KL, LAMBDA, "example")
  assert value == pytest.approx(expected, rel=1e-6)


def test_batch_mode_gradient_is_zero_below_threshold():
  _, gradient = _kl_and_gradient(KL, LAMBDA, "batch")
  batch_size = KL.shape[0]
  # Dimensions whose batch mean is below lambda get nothing, even the
  # examples of dimension 3 that are individually below lambda get 1 / B.
  np.testing.assert_array_equal(gradient[:, 0], 0.0)
  np.testing.assert_array_equal(gradient[:, 1], 0.0)
  np.testing.assert_allclose(gradient[:, 2], 1.0 / batch_size)
  np.testing.assert_allclose(gradient[:, 3], 1.0 / batch_size)


def test_example_mode_gradient_is_per_entry():
  _, gradient = _kl_and_gradient(KL, LAMBDA, "example")
  # Ties (KL_ij == lambda) pass the gradient, as tf.maximum(kl, floor) does.
  expected = np.where(KL >= LAMBDA, 1.0 / KL.shape[0], 0.0)
  np.testing.assert_allclose(gradient, expected)


def test_gradient_at_a_tie_flows_to_the_kl():
  # Dimension 0 has batch mean exactly 0.25 (binary fractions, no rounding).
  tie = np.array([[0.125, 1.0], [0.375, 1.0]], np.float32)
  _, gradient = _kl_and_gradient(tie, LAMBDA, "batch")
  np.testing.assert_allclose(gradient, 0.5)


def test_zero_free_bits_is_the_plain_kl():
  for mode in ("batch", "example"):
    value, gradient = _kl_and_gradient(KL, 0.0, mode)
    assert value == pytest.approx(KL.sum(axis=1).mean(), rel=1e-6)
    np.testing.assert_allclose(gradient, 1.0 / KL.shape[0])


def test_gradient_reaches_encoder_parameters_only_above_threshold():
  # KL_ij = softplus(a_j) * x_i: dimension 0 tiny, dimension 1 large.
  a = tf.Variable([-6.0, 2.0])
  x = tf.constant([[0.5], [1.0], [1.5]])
  with tf.GradientTape() as tape:
    value = free_bits_kl(tf.nn.softplus(a) * x, LAMBDA, "batch")
  gradient = tape.gradient(value, a).numpy()
  assert gradient[0] == 0.0
  assert gradient[1] > 0.0


def test_works_in_tf_function_and_float64():
  compiled = tf.function(lambda kl: free_bits_kl(kl, LAMBDA, "batch"))
  value = compiled(tf.constant(KL, tf.float64))
  assert value.dtype == tf.float64
  assert float(value) == pytest.approx(
      np.maximum(LAMBDA, KL.astype(np.float64).mean(axis=0)).sum())


@pytest.mark.parametrize("free_bits,mode,kl", [
    (-0.1, "batch", KL),
    (float("inf"), "batch", KL),
    ("0.25", "batch", KL),
    (0.25, "dimension", KL),
    (0.25, "batch", KL[0]),
])
def test_bad_arguments_raise(free_bits, mode, kl):
  with pytest.raises(ConfigError):
    free_bits_kl(kl, free_bits, mode)
