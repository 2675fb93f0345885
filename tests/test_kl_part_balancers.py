"""Tests of the balancers that weight parts of the KL: beta-TCVAE, FactorVAE, DIP-VAE.

Each balancer is called directly on hand-built `Terms`; the references are
NumPy computations of the papers' formulas.
"""

import math
import re
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from test_decomposition import numpy_parts
from tfvae.balancing import base
from tfvae.balancing import beta_tcvae  # pylint: disable=unused-import
from tfvae.balancing import dip_vae
from tfvae.balancing import factorvae
from tfvae.config import ExperimentConfig
from tfvae.errors import ConfigError

B, J, K = 6, 3, 5
KL_PART_BALANCERS = tuple(cls.registry_name for cls in base.selectable()
                          if cls.weights_kl_parts)


def make_terms(seed=0, rec_divisor=1.0, kl_divisor=1.0, kl_weight=1.0,
               correlated=False):
  """Terms of a batch of B examples; numpy copies for the references."""
  rng = np.random.default_rng(seed)
  means = rng.normal(size=(B, J))
  if correlated:
    means[:, 1] = means[:, 0] + 0.05 * means[:, 1]
  log_vars = rng.normal(-1.0, 0.3, size=(B, J))
  z = means + np.exp(0.5 * log_vars) * rng.normal(size=(B, J))
  distortion = rng.uniform(10, 20, size=B)
  kl_per_dim = 0.5 * (means**2 + np.exp(log_vars) - 1 - log_vars)
  f = lambda a: tf.constant(a, tf.float32)  # pylint: disable=unnecessary-lambda-assignment
  terms = base.Terms(
      distortion=f(distortion), rate=f(kl_per_dim.sum(1)),
      kl_per_dim=f(kl_per_dim), rec=f(distortion / rec_divisor),
      kl=f(kl_per_dim.sum(1) / kl_divisor), kl_weight=f(kl_weight),
      z=f(z), z_mean=f(means), z_log_variance=f(log_vars), num_features=K,
      latent_dim=J, rec_divisor=rec_divisor, kl_divisor=kl_divisor)
  return terms, dict(z=z, means=means, log_vars=log_vars,
                     distortion=distortion, kl=kl_per_dim.sum(1))


def step():
  return tf.constant(0, tf.int64)


# ------------------------------------------------------------------ registry

def test_all_four_are_registered():
  assert {"beta_tcvae", "factorvae", "dip_vae_i",
          "dip_vae_ii"} <= set(base.names())
  assert isinstance(base.get("dip_vae_i"), dip_vae.DIPVAEI)


# ---------------------------------------------------------------- beta-TCVAE

def test_beta_tcvae_with_unit_weights_is_the_vae_loss_with_the_mc_kl():
  terms, ref = make_terms(rec_divisor=float(K), kl_divisor=float(J),
                          kl_weight=0.7)
  balancer = base.get("beta_tcvae", dataset_size=100, alpha=1.0, beta=1.0,
                      gamma=1.0)
  out = balancer.balance(terms, step(), training=True)
  *_, mc = numpy_parts(ref["z"], ref["means"], ref["log_vars"], 100)
  expected = ref["distortion"] / K + 0.7 * mc / J
  np.testing.assert_allclose(out.per_example.numpy(), expected, rtol=2e-5)
  # beta_eff = w K_r / J_r and kl_weight = w when alpha = beta = gamma = 1.
  assert float(out.beta_eff) == pytest.approx(0.7 * K / J, rel=1e-6)
  assert float(out.kl_weight) == pytest.approx(0.7, rel=1e-6)
  assert float(out.extra_loss) == 0.0


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_beta_tcvae_weights_each_part(estimator):
  terms, ref = make_terms(seed=1)
  balancer = base.get("beta_tcvae", dataset_size=50, alpha=0.5, beta=6.0,
                      gamma=2.0, estimator=estimator)
  out = balancer.balance(terms, step(), training=False)
  mi, tc, dk, _ = numpy_parts(ref["z"], ref["means"], ref["log_vars"], 50,
                              estimator)
  penalty = 0.5 * mi + 6.0 * tc + 2.0 * dk
  np.testing.assert_allclose(out.per_example.numpy(),
                             ref["distortion"] + penalty, rtol=2e-5,
                             atol=1e-4)
  assert float(out.scalars["tcvae_tc"]) == pytest.approx(tc.mean(), abs=1e-4)
  assert float(out.scalars["tcvae_mi"]) == pytest.approx(mi.mean(), abs=1e-4)
  assert float(out.scalars["tcvae_dimwise_kl"]) == pytest.approx(dk.mean(),
                                                                 abs=1e-4)
  # Unequal weights: beta_eff is the penalty per nat of the batch's KL.
  assert float(out.beta_eff) == pytest.approx(
      penalty.sum() / (mi + tc + dk).sum(), rel=1e-4)
  assert set(out.scalars) == set(balancer.scalar_names)


def test_beta_tcvae_defaults_and_bad_weights():
  balancer = base.get("beta_tcvae", dataset_size=10)
  assert (balancer.alpha, balancer.beta, balancer.gamma) == (1.0, 6.0, 1.0)
  for name in ("alpha", "beta", "gamma"):
    with pytest.raises(ValueError, match=name):
      base.get("beta_tcvae", dataset_size=10, **{name: -1.0})
  with pytest.raises(ValueError, match="dataset_size"):
    base.get("beta_tcvae", dataset_size=1)


def test_beta_tcvae_gradient_reaches_the_posterior():
  terms, _ = make_terms(seed=2)
  z_mean = tf.Variable(terms.z_mean)
  balancer = base.get("beta_tcvae", dataset_size=100)
  with tf.GradientTape() as tape:
    out = balancer.balance(terms.replace(z_mean=z_mean), step(), True)
    loss = tf.reduce_mean(out.per_example)
  gradient = tape.gradient(loss, z_mean)
  assert gradient is not None and np.all(np.isfinite(gradient.numpy()))


# ------------------------------------------------------------------- DIP-VAE

def numpy_dip_penalty(means, log_vars, variant, lambda_od, lambda_d):
  centred = means - means.mean(0)
  cov = centred.T @ centred / means.shape[0]  # The biased 1/B covariance.
  if variant == "ii":
    cov = cov + np.diag(np.exp(log_vars).mean(0))
  off = sum(cov[i, j]**2 for i in range(J) for j in range(J) if i != j)
  diag = sum((cov[i, i] - 1.0)**2 for i in range(J))
  return lambda_od * off + lambda_d * diag


@pytest.mark.parametrize("name,variant,factor", [("dip_vae_i", "i", 10.0),
                                                 ("dip_vae_ii", "ii", 1.0)])
def test_dip_vae_penalty(name, variant, factor):
  terms, ref = make_terms(seed=3, rec_divisor=float(K), kl_divisor=float(J),
                          kl_weight=2.0)
  balancer = base.get(name, lambda_od=3.0)
  assert balancer.lambda_d == pytest.approx(factor * 3.0)
  out = balancer.balance(terms, step(), training=True)
  penalty = numpy_dip_penalty(ref["means"], ref["log_vars"], variant, 3.0,
                              factor * 3.0)
  assert float(out.scalars["dip_penalty"]) == pytest.approx(penalty, rel=1e-5)
  assert float(out.extra_loss) == pytest.approx(penalty / J, rel=1e-5)
  np.testing.assert_allclose(out.per_example.numpy(),
                             ref["distortion"] / K + 2.0 * ref["kl"] / J,
                             rtol=1e-5)
  assert float(out.beta_eff) == pytest.approx(2.0 * K / J, rel=1e-6)
  assert float(out.kl_weight) == pytest.approx(2.0)


def test_dip_vae_explicit_lambda_d_and_defaults():
  assert base.get("dip_vae_i").lambda_od == 10.0
  assert base.get("dip_vae_i").lambda_d == 100.0
  assert base.get("dip_vae_ii").lambda_d == 10.0
  assert base.get("dip_vae_ii", lambda_od=1.0, lambda_d=7.0).lambda_d == 7.0
  with pytest.raises(ValueError, match="lambda_od"):
    base.get("dip_vae_i", lambda_od=-1.0)
  with pytest.raises(ValueError, match="lambda_d"):
    base.get("dip_vae_ii", lambda_d=float("nan"))


def test_dip_vae_penalty_is_zero_for_whitened_means():
  # Columns orthonormal and orthogonal to the ones vector: mean 0, and
  # (1/B) mu^T mu = I, so Cov[mu] = I and DIP-VAE-I's penalty vanishes.
  rng = np.random.default_rng(4)
  basis, _ = np.linalg.qr(np.concatenate(
      [np.ones((8, 1)), rng.normal(size=(8, J))], axis=1))
  means = basis[:, 1:] * math.sqrt(8.0)
  off, diag = dip_vae.dip_penalty_parts(dip_vae.dip_covariance(
      tf.constant(means), tf.zeros((8, J), tf.float64), "i"))
  assert float(off) == pytest.approx(0.0, abs=1e-20)
  assert float(diag) == pytest.approx(0.0, abs=1e-20)
  # DIP-VAE-II adds E[sigma^2] = 1 (log variance 0) to the diagonal.
  off, diag = dip_vae.dip_penalty_parts(dip_vae.dip_covariance(
      tf.constant(means), tf.zeros((8, J), tf.float64), "ii"))
  assert float(diag) == pytest.approx(J * 1.0, rel=1e-9)


# ----------------------------------------------------------------- FactorVAE

def small_factorvae(**kwargs):
  kwargs.setdefault("discriminator_units", 16)
  kwargs.setdefault("discriminator_layers", 2)
  return base.get("factorvae", latent_dim=J, **kwargs)


def numpy_logits(balancer, z):
  """D's forward pass in NumPy from its weights."""
  h = np.asarray(z, np.float64)
  dense = [layer for layer in balancer.discriminator.layers
           if isinstance(layer, keras.layers.Dense)]
  for layer in dense[:-1]:
    kernel, bias = (v.numpy() for v in layer.weights)
    h = h @ kernel + bias
    h = np.where(h > 0, h, 0.2 * h)
  kernel, bias = (v.numpy() for v in dense[-1].weights)
  return (h @ kernel + bias)[:, 0]


def test_factorvae_defaults_follow_the_paper():
  balancer = base.get("factorvae", latent_dim=2)
  dense = [layer for layer in balancer.discriminator.layers
           if isinstance(layer, keras.layers.Dense)]
  assert [layer.units for layer in dense] == [1000] * 6 + [1]
  assert balancer.gamma == 35.0
  optimizer = balancer.discriminator_optimizer
  assert float(optimizer.learning_rate) == pytest.approx(1e-4)
  assert (optimizer.beta_1, optimizer.beta_2) == (0.5, 0.9)


def test_factorvae_loss_adds_gamma_times_the_mean_logit():
  terms, ref = make_terms(seed=5, rec_divisor=float(K), kl_divisor=float(J),
                          kl_weight=0.5)
  balancer = small_factorvae(gamma=10.0)
  out = balancer.balance(terms, step(), training=True)
  logits = numpy_logits(balancer, ref["z"])
  expected = ref["distortion"] / K + 0.5 * ref["kl"] / J + 10.0 * logits / J
  np.testing.assert_allclose(out.per_example.numpy(), expected, rtol=1e-5,
                             atol=1e-5)
  assert float(out.scalars["factorvae_tc"]) == pytest.approx(logits.mean(),
                                                            abs=1e-5)
  assert float(out.beta_eff) == pytest.approx(0.5 * K / J)
  assert set(out.scalars) == set(balancer.scalar_names)


def test_permute_dims_permutes_each_column_reproducibly():
  z = tf.constant(np.arange(40, dtype=np.float32).reshape(10, 4))
  seed = tf.constant([3, 7], tf.int64)
  permuted = factorvae.permute_dims(z, seed).numpy()
  for j in range(4):
    np.testing.assert_array_equal(np.sort(permuted[:, j]), z.numpy()[:, j])
  np.testing.assert_array_equal(permuted,
                                factorvae.permute_dims(z, seed).numpy())
  # Columns are permuted independently: rows are not kept together.
  assert not all(np.array_equal(np.argsort(permuted[:, 0]),
                                np.argsort(permuted[:, j])) for j in range(4))


def test_discriminator_loss_formula():
  real = np.array([2.0, -1.0, 0.5])
  fake = np.array([0.0, 1.5])
  expected = 0.5 * (np.mean(np.log1p(np.exp(-real))) +
                    np.mean(np.log1p(np.exp(fake))))
  got = factorvae.discriminator_loss(tf.constant(real), tf.constant(fake))
  assert float(got) == pytest.approx(expected, rel=1e-10)


def test_train_own_learns_the_total_correlation_of_correlated_codes():
  rng = np.random.default_rng(6)
  balancer = small_factorvae(learning_rate=3e-3, beta_1=0.9, beta_2=0.999)
  own = [v.numpy().copy() for v in balancer.own_trainable_variables]
  u = rng.normal(size=(256, 1))
  z = np.concatenate([u, u + 0.1 * rng.normal(size=(256, 1)),
                      rng.normal(size=(256, 1))], axis=1)
  terms, _ = make_terms()
  terms = terms.replace(z=tf.constant(z, tf.float32))
  train = tf.function(lambda s: balancer.train_own(terms, s))
  first = float(train(tf.constant(0, tf.int64))["factorvae_discriminator_loss"])
  for s in range(1, 300):
    last = train(tf.constant(s, tf.int64))["factorvae_discriminator_loss"]
  assert float(last) < first - 0.1
  assert float(tf.reduce_mean(balancer.logits(z))) > 0.5
  assert int(balancer.discriminator_optimizer.iterations.numpy()) == 300
  changed = [not np.array_equal(a, v.numpy())
             for a, v in zip(own, balancer.own_trainable_variables)]
  assert all(changed)


def test_discriminator_state_is_checkpointed_and_restored():

  class Holder(keras.Model):

    def __init__(self, balancer):
      super().__init__()
      self.balancer = balancer

  balancer = small_factorvae()
  terms, _ = make_terms()
  for s in range(3):
    balancer.train_own(terms, tf.constant(s, tf.int64))
  path = tf.train.Checkpoint(model=Holder(balancer)).save(
      tempfile.mkdtemp() + "/ckpt")
  fresh = small_factorvae()
  status = tf.train.Checkpoint(model=Holder(fresh)).restore(path)
  status.assert_existing_objects_matched()
  assert int(fresh.discriminator_optimizer.iterations.numpy()) == 3
  for a, b in zip(balancer.discriminator_optimizer.variables,
                  fresh.discriminator_optimizer.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  for a, b in zip(balancer.own_trainable_variables,
                  fresh.own_trainable_variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_factorvae_bad_arguments():
  with pytest.raises(ValueError, match="gamma"):
    small_factorvae(gamma=-2.0)
  with pytest.raises(ValueError, match="discriminator_units"):
    small_factorvae(discriminator_units=0)
  with pytest.raises(ValueError, match="latent_dim"):
    base.get("factorvae", latent_dim=0)


# ----------------------------------------------------------- configuration

def valid(**changes):
  return ExperimentConfig.from_flat(changes).validate()


def built(config, dataset_size=900):
  context = base.BuildContext(dataset_size=dataset_size,
                              latent_dim=config.model.latent_dim,
                              seed=config.training.seed)
  return base.lookup(config.balancer.balancer).from_config_section(
      config.balancer, context)


def test_each_balancer_reads_its_config_settings():
  tcvae = built(valid(balancer="beta_tcvae", tc_beta=4.0))
  assert (tcvae.dataset_size, tcvae.alpha, tcvae.beta, tcvae.gamma,
          tcvae.estimator) == (900, 1.0, 4.0, 1.0, "mss")
  factor = built(valid(balancer="factorvae", factorvae_gamma=20.0,
                       latent_dim=4, factorvae_units=64, factorvae_layers=3,
                       seed=5))
  assert (factor.latent_dim, factor.gamma, factor.discriminator_units,
          factor.discriminator_layers, factor.seed) == (4, 20.0, 64, 3, 5)
  dip_i = built(valid(balancer="dip_vae_i"))
  assert (dip_i.lambda_od, dip_i.lambda_d) == (10.0, 100.0)
  dip_ii = built(valid(balancer="dip_vae_ii"))
  assert (dip_ii.lambda_od, dip_ii.lambda_d) == (10.0, 10.0)
  dip = built(valid(balancer="dip_vae_ii", dip_lambda_od=2.0,
                    dip_lambda_d=3.0))
  assert (dip.lambda_od, dip.lambda_d) == (2.0, 3.0)
  for name in KL_PART_BALANCERS:
    assert isinstance(built(valid(balancer=name), 100), base.Balancer)


@pytest.mark.parametrize("changes,message", [
    (dict(balancer="beta_tcvae", tc_beta=-1.0), "--tc_beta"),
    (dict(balancer="beta_tcvae", tc_alpha=float("inf")), "--tc_alpha"),
    (dict(balancer="beta_tcvae", tc_gamma=-0.5), "--tc_gamma"),
    (dict(balancer="factorvae", factorvae_gamma=-3.0), "--factorvae_gamma"),
    (dict(balancer="dip_vae_i", dip_lambda_od=-1.0), "--dip_lambda_od"),
    (dict(balancer="dip_vae_ii", dip_lambda_d=-1.0), "--dip_lambda_d"),
    (dict(balancer="dip_vae_i", kl_estimator="monte_carlo"),
     "--kl_estimator=monte_carlo"),
    (dict(balancer="dip_vae_ii", kl_estimator="monte_carlo"),
     "--kl_estimator=monte_carlo"),
    (dict(balancer="factorvae", strategy="mirrored"), "--strategy=mirrored"),
    (dict(balancer="factorvae", factorvae_units=0), "--factorvae_units"),
    (dict(balancer="beta_tcvae", tc_estimator="iwae"), "--tc_estimator"),
    (dict(balancer="beta_tcvae", free_bits=0.5), "--free_bits"),
    (dict(balancer="dip_vae_i", free_bits=0.5), "--free_bits"),
])
def test_bad_combinations_are_one_clear_line(changes, message):
  # The library names the field; the command line adds the dashes.
  message = message.lstrip("-")
  with pytest.raises(ConfigError, match=re.escape(message)) as info:
    valid(**changes)
  assert "\n" not in str(info.value)
