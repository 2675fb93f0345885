"""The question's loss, the general objective, and their equivalences.

Every expected value here is computed independently with numpy from the
question's formulas (references §1), not with tfvae code.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfvae.config import ExperimentConfig
from tfvae.models.factory import build_model
from tfvae.objectives import elbo
from tfvae.objectives import kl as kl_lib
from tfvae.objectives import reference

RNG = np.random.RandomState(0)
B, H, W, C, J = 5, 4, 3, 1, 6
K = H * W * C
X = RNG.uniform(size=(B, H, W, C)).astype(np.float32)
Y = RNG.uniform(0.01, 0.99, size=(B, H, W, C)).astype(np.float32)
MU = RNG.normal(size=(B, J)).astype(np.float32)
LOG_SIGMA_SQ = RNG.normal(scale=0.5, size=(B, J)).astype(np.float32)


def numpy_kl(mu, log_sigma_sq):
  return -0.5 * np.sum(1 + log_sigma_sq - mu**2 - np.exp(log_sigma_sq), axis=1)


@pytest.mark.parametrize("rec", ["l2", "bce"])
def test_question_loss_matches_numpy(rec):
  kl = numpy_kl(MU.astype(np.float64), LOG_SIGMA_SQ.astype(np.float64))
  x, y = X.astype(np.float64), Y.astype(np.float64)
  if rec == "l2":
    rec_loss = np.sum((y - x)**2, axis=(1, 2, 3))
  else:
    yc = np.clip(y, 1e-8, 1 - 1e-8)
    rec_loss = -np.sum(x * np.log(yc) + (1 - x) * np.log(1 - yc), axis=(1, 2, 3))
  expected = np.mean(kl + rec_loss)
  loss, kl_loss, rec_out = reference.question_loss(X, Y, MU, LOG_SIGMA_SQ, rec)
  np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
  np.testing.assert_allclose(kl_loss.numpy(), kl, rtol=1e-5)
  np.testing.assert_allclose(rec_out.numpy(), rec_loss, rtol=1e-5)


def test_bce_clip_float32_pitfall_is_ported_faithfully():
  """The lower clip protects log(y); in float32 1 - 1e-8 == 1, so the upper
  clip does not: y = 1 with x < 1 gives an infinite loss, exactly as in the
  question's code. tfvae's Bernoulli likelihood works on logits instead."""
  assert np.float32(1) - np.float32(1e-8) == np.float32(1)
  zeros = np.zeros((1, 1), np.float32)
  low = reference.question_loss(np.ones((1, 1, 1, 1), np.float32),
                                np.zeros((1, 1, 1, 1), np.float32), zeros,
                                zeros, "bce")[2]
  np.testing.assert_allclose(low.numpy(), [-math.log(1e-8)], rtol=1e-5)
  high = reference.question_loss(np.zeros((1, 1, 1, 1), np.float32),
                                 np.ones((1, 1, 1, 1), np.float32), zeros,
                                 zeros, "bce")[2]
  assert np.isinf(high.numpy()[0])


def test_question_distortion_is_gaussian_half_variance_nll():
  from scipy import stats
  _, _, rec_loss = reference.question_loss(X, Y, MU, LOG_SIGMA_SQ, "l2")
  nll = -np.sum(stats.norm.logpdf(X, loc=Y, scale=math.sqrt(0.5)),
                axis=(1, 2, 3))
  np.testing.assert_allclose(
      reference.question_distortion(rec_loss, K, "l2").numpy(), nll, rtol=1e-5)


def test_kl_closed_form_and_monte_carlo_agree():
  closed = kl_lib.gaussian_kl(MU, LOG_SIGMA_SQ).numpy().sum(axis=1)
  np.testing.assert_allclose(closed, numpy_kl(MU, LOG_SIGMA_SQ), rtol=1e-5)
  tf.random.set_seed(1)
  mu = np.repeat(MU[:1], 20000, axis=0)
  lv = np.repeat(LOG_SIGMA_SQ[:1], 20000, axis=0)
  z = kl_lib.sample_latent(mu, lv)
  mc = kl_lib.monte_carlo_kl(z, mu, lv).numpy().sum(axis=1).mean()
  assert abs(mc - closed[0]) < 0.05 * max(1.0, closed[0])


def test_elbo_terms_and_bits_per_dim():
  nll = RNG.uniform(size=(B, H, W, C)).astype(np.float32)
  kl = RNG.uniform(size=(B, J)).astype(np.float32)
  terms = elbo.elbo_terms(nll, kl)
  d = nll.reshape(B, -1).sum(1)
  r = kl.sum(1)
  np.testing.assert_allclose(terms["neg_elbo"].numpy(), d + r, rtol=1e-6)
  np.testing.assert_allclose(terms["bits_per_dim"].numpy(),
                             (d + r) / (K * math.log(2)), rtol=1e-6)


def _pair(x_shape, **kwargs):
  """A model built from kwargs plus its weights and a batch."""
  config = ExperimentConfig.from_flat(
      latent_dim=J, hidden_units=16, **kwargs).validate()
  model = build_model(config, x_shape[1:])
  return model


def _loss_and_grads(model, x):
  with tf.GradientTape() as tape:
    terms = model.compute_terms(x, training=True)
  grads = tape.gradient(terms["loss"], model.trainable_variables)
  return terms, grads


@pytest.fixture(name="batch")
def fixture_batch():
  return tf.constant(X)


def _copy_network_weights(src, dst):
  for a, b in zip(src.encoder.weights + src.decoder.weights,
                  dst.encoder.weights + dst.decoder.weights):
    b.assign(a)


def _with_optimizer(model):
  import keras
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  return model


def test_gaussian_half_variance_sum_sum_reproduces_the_port(batch):
  port = _with_optimizer(_pair(X.shape, model="reference", reference_rec="l2"))
  vae = _with_optimizer(_pair(X.shape, likelihood="gaussian",
                              sigma=str(math.sqrt(0.5))))
  _copy_network_weights(port, vae)
  port_terms, port_grads = _loss_and_grads(port, batch)
  vae_terms, vae_grads = _loss_and_grads(vae, batch)
  constant = 0.5 * K * math.log(math.pi)  # (K/2) log(2 pi sigma^2), sigma^2=1/2
  np.testing.assert_allclose(float(vae_terms["loss"]),
                             float(port_terms["loss"]) + constant, rtol=1e-5)
  assert len(port_grads) == len(vae_grads)
  for gp, gv in zip(port_grads, vae_grads):
    np.testing.assert_allclose(gv.numpy(), gp.numpy(), rtol=1e-4, atol=1e-5)
  assert float(vae_terms["beta_eff"]) == pytest.approx(1.0)


@pytest.mark.parametrize("weight", [0.1, 1.0, 3.0])
def test_mean_mean_weight_equals_sum_sum_beta_norm(batch, weight):
  """mean/mean with weight w == sum/sum with beta = w K / J, scaled by 1/K."""
  mean_model = _with_optimizer(_pair(X.shape, sigma="0.7", rec_reduction="mean",
                                     kl_reduction="mean", beta=weight))
  sum_model = _with_optimizer(_pair(X.shape, sigma="0.7", beta=weight * K / J))
  _copy_network_weights(mean_model, sum_model)
  mean_terms, mean_grads = _loss_and_grads(mean_model, batch)
  sum_terms, sum_grads = _loss_and_grads(sum_model, batch)
  np.testing.assert_allclose(float(mean_terms["loss"]),
                             float(sum_terms["loss"]) / K, rtol=1e-5)
  for gm, gs in zip(mean_grads, sum_grads):
    np.testing.assert_allclose(gm.numpy(), gs.numpy() / K, rtol=1e-4,
                               atol=1e-7)
  # Both report the same weighting in ELBO units: beta_norm = w.
  for terms in (mean_terms, sum_terms):
    assert float(terms["beta_norm"]) == pytest.approx(weight, rel=1e-5)
    assert float(terms["beta_eff"]) == pytest.approx(weight * K / J, rel=1e-5)


def test_beta_norm_flag_converts_to_the_written_weight():
  for rec, kl in [("sum", "sum"), ("mean", "mean"), ("mean", "sum"),
                  ("sum", "mean")]:
    config = ExperimentConfig.from_flat(
        latent_dim=10, rec_reduction=rec, kl_reduction=kl,
        beta_norm=0.0098).validate()
    w = config.resolved_kl_weight(4096)
    k_r = 4096 if rec == "mean" else 1
    j_r = 10 if kl == "mean" else 1
    beta_eff = w * k_r / j_r
    # Higgins' dSprites example: beta = 4 <-> beta_norm ~ 0.0098.
    assert beta_eff == pytest.approx(0.0098 * 4096 / 10)
    assert beta_eff * 10 / 4096 == pytest.approx(0.0098)


def test_training_noise_uniforms_never_reach_zero_or_one():
  """Extreme Philox bits must map strictly inside (0, 1): ndtri(1) = inf."""
  from tfvae.objectives.seeds import bits_to_unit_interval
  bits = tf.constant([0, 1, 2**31, 2**32 - 1], dtype=tf.uint32)
  u = bits_to_unit_interval(bits).numpy()
  assert np.all(u > 0) and np.all(u < 1)
  assert np.all(np.isfinite(tf.math.ndtri(u).numpy()))
