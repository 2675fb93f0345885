"""Keras serialisation: `model.save("x.keras")` / `keras.models.load_model`.

Every built-in likelihood and balancer round-trips: the loaded model has the
same weights (learned sigmas, balancer state, FactorVAE's discriminator and
its optimiser), the same loss and terms for the same batch and step, the same
optimiser step, and a second `fit` continues from there exactly as the
original model's does. Users' own registered likelihoods and balancers save
the same way; a schedule given as a Python function is refused with one
clear error.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfvae
from test_likelihood_families import FAMILIES
from test_likelihood_families import family_batch

J = 2
L = tfvae.likelihoods
B = tfvae.balancers


def images(n=32, seed=0):
  return np.random.RandomState(seed).uniform(size=(n, 8, 8, 1)).astype(
      np.float32)


def binary_images(n=32, seed=0):
  return (images(n, seed) > 0.5).astype(np.float32)


def make_vae(likelihood=None, balancer=None, channels=1, **kwargs):
  encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(2 * J)])
  decoder = keras.Sequential([keras.Input((J,)),
                              keras.layers.Dense(64 * channels),
                              keras.layers.Reshape((8, 8, channels))])
  return tfvae.VAE(encoder, decoder, likelihood=likelihood, balancer=balancer,
                   **kwargs)


LIKELIHOODS = {
    "bernoulli": lambda: (L.Bernoulli(), 1),
    "continuous_bernoulli": lambda: (L.ContinuousBernoulli(), 1),
    "gaussian_fixed": lambda: (L.Gaussian(0.3, mean="sigmoid"), 1),
    "gaussian_learned": lambda: (L.Gaussian("learned"), 1),
    "gaussian_learned_channel": lambda: (L.Gaussian("learned_channel"), 1),
    "gaussian_learned_feature": lambda: (L.Gaussian("learned_feature"), 2),
    "gaussian_optimal": lambda: (L.Gaussian("optimal"), 1),
}

BALANCERS = {
    "constant": lambda: B.KLWeight(),
    "constant_with_schedule": lambda: B.KLWeight(
        schedule=tfvae.schedules.make_schedule("linear", warmup_steps=8)),
    "linear": lambda: B.Linear(8, start=0.1),
    "sigmoid": lambda: B.Sigmoid(8, stop=0.5, k=1.0),
    "cyclical": lambda: B.Cyclical(8, n_cycles=2),
    "free_bits": lambda: B.FreeBits(0.1, mode="example",
                                    inner=B.Linear(8)),
    "capacity": lambda: B.Capacity(gamma=10.0, capacity_max=5.0,
                                   capacity_steps=8),
    "geco": lambda: B.GECO(target=0.1, rate=0.5, alpha=0.5),
    "controlvae": lambda: B.ControlVAE(kl_target=0.5, kp=0.5, ki=0.1),
    "beta_tcvae": lambda: B.BetaTCVAE(dataset_size=32, beta=3.0),
    "factorvae": lambda: B.FactorVAE(J, gamma=2.0, discriminator_units=8,
                                     discriminator_layers=1, seed=3),
    "dip_vae_i": lambda: B.DIPVAEI(lambda_od=2.0),
    "dip_vae_ii": lambda: B.DIPVAEII(lambda_od=2.0, lambda_d=3.0),
}


def _terms(vae, x):
  terms = vae.compute_terms(tf.constant(x), training=True)
  names = list(vae.scalar_names) + ["distortion", "rate"]
  return {name: terms[name].numpy() for name in names if name in terms}


def _assert_same_weights(a, b):
  assert len(a.weights) == len(b.weights)
  for u, v in zip(a.weights, b.weights):
    np.testing.assert_array_equal(u.numpy(), v.numpy(), err_msg=u.path)


def _round_trip(vae, x, tmp_path):
  """Trains two steps, saves, loads; checks weights, terms and that one more
  epoch continues identically. Returns the loaded model."""
  vae.compile(optimizer=keras.optimizers.Adam(1e-2))
  vae.fit(x, epochs=1, batch_size=16, shuffle=False, verbose=0)
  path = str(tmp_path / "model.keras")
  vae.save(path)
  loaded = keras.models.load_model(path)
  assert type(loaded) is type(vae)
  assert int(loaded.optimizer.iterations.numpy()) == 2
  _assert_same_weights(vae, loaded)
  expected, got = _terms(vae, x[:16]), _terms(loaded, x[:16])
  for name, value in expected.items():
    np.testing.assert_allclose(got[name], value, rtol=1e-6, atol=1e-7,
                               err_msg=name)
  for model in (vae, loaded):
    model.fit(x, epochs=1, batch_size=16, shuffle=False, verbose=0)
  assert int(loaded.optimizer.iterations.numpy()) == 4
  for u, v in zip(vae.weights, loaded.weights):
    np.testing.assert_allclose(v.numpy(), u.numpy(), rtol=1e-5, atol=1e-6,
                               err_msg=u.path)
  return loaded


@pytest.mark.parametrize("name", sorted(LIKELIHOODS))
def test_every_likelihood_round_trips(name, tmp_path):
  keras.utils.set_random_seed(0)
  likelihood, channels = LIKELIHOODS[name]()
  x = binary_images() if name == "bernoulli" else images()
  vae = make_vae(likelihood, channels=channels,
                 weighting=tfvae.Weighting(rec="mean", kl="mean", beta=0.5),
                 seed=7)
  loaded = _round_trip(vae, x, tmp_path)
  assert loaded.seed == 7
  assert loaded.weighting == vae.weighting
  assert loaded.likelihood.get_config() == vae.likelihood.get_config()
  if getattr(vae.likelihood, "sigma_mode", None) in ("learned",
                                                     "learned_channel"):
    sigma = vae.likelihood.raw_log_sigma.numpy()
    assert np.all(sigma != 0.0)  # trained away from its initial value
    np.testing.assert_array_equal(loaded.likelihood.raw_log_sigma.numpy(),
                                  sigma)


CATEGORICAL_EVENT = (5,)


def categorical_batch(n=32, seed=0):
  return np.random.RandomState(seed).randint(0, 4, size=(n, 5)).astype(
      np.float32)


OTHER_FAMILIES = dict(
    FAMILIES, categorical=lambda: L.Categorical(num_classes=4))


def test_every_registered_family_has_a_round_trip_test():
  tested = {name.split("_learned")[0].split("_fixed")[0].split("_optimal")[0]
            for name in LIKELIHOODS} | set(OTHER_FAMILIES)
  # tfvae's own families (other tests register users' families).
  built_in = {name for name in L.names()
              if L.lookup(name).__module__.startswith("tfvae.")}
  assert built_in <= tested, built_in - tested
  assert {"beta", "columns", "gaussian"} <= built_in


@pytest.mark.parametrize("name", sorted(OTHER_FAMILIES))
def test_every_other_family_round_trips(name, tmp_path):
  keras.utils.set_random_seed(0)
  likelihood = OTHER_FAMILIES[name]()
  if name == "categorical":
    event_shape, x = CATEGORICAL_EVENT, categorical_batch()
  else:
    event_shape, x = family_batch(name, 32)
  params_shape = likelihood.params_shape(event_shape)
  encoder = keras.Sequential([keras.Input(event_shape),
                              keras.layers.Flatten(),
                              keras.layers.Dense(2 * J)])
  decoder = keras.Sequential([keras.Input((J,)),
                              keras.layers.Dense(int(np.prod(params_shape))),
                              keras.layers.Reshape(params_shape)])
  vae = tfvae.VAE(encoder, decoder, likelihood=likelihood, seed=5)
  loaded = _round_trip(vae, x, tmp_path)
  assert loaded.likelihood.get_config() == vae.likelihood.get_config()
  if name == "columns":
    np.testing.assert_array_equal(loaded.likelihood.raw_log_sigma.numpy(),
                                  vae.likelihood.raw_log_sigma.numpy())


@pytest.mark.parametrize("name", sorted(BALANCERS))
def test_every_balancer_round_trips_with_its_state(name, tmp_path):
  keras.utils.set_random_seed(0)
  vae = make_vae(L.Bernoulli(), BALANCERS[name](),
                 weighting=tfvae.Weighting(beta=0.5))
  loaded = _round_trip(vae, binary_images(), tmp_path)
  assert type(loaded.balancer) is type(vae.balancer)
  assert loaded.balancer.get_config() == vae.balancer.get_config()
  if name == "factorvae":
    for model in (vae, loaded):
      assert int(model.balancer.discriminator_optimizer.iterations) == 4


def test_balancer_state_is_restored_not_reinitialised(tmp_path):
  keras.utils.set_random_seed(0)
  vae = make_vae(L.Bernoulli(), B.GECO(target=0.1, rate=0.5, alpha=0.5))
  vae.compile(optimizer="adam")
  vae.fit(binary_images(), epochs=1, batch_size=16, verbose=0)
  lagrange = float(vae.balancer.lagrange.numpy())
  assert lagrange != 1.0  # moved from lambda_init
  vae.save(tmp_path / "geco.keras")
  loaded = keras.models.load_model(tmp_path / "geco.keras")
  assert float(loaded.balancer.lagrange.numpy()) == lagrange


def test_reference_vae_round_trips(tmp_path):
  keras.utils.set_random_seed(0)
  encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(2 * J)])
  decoder = keras.Sequential([keras.Input((J,)), keras.layers.Dense(64),
                              keras.layers.Reshape((8, 8, 1))])
  vae = tfvae.ReferenceVAE(encoder, decoder, rec="bce")
  loaded = _round_trip(vae, images(), tmp_path)
  assert loaded.rec == "bce"


def test_kl_schedule_callback_schedule_is_saved(tmp_path):
  keras.utils.set_random_seed(0)
  vae = make_vae(L.Bernoulli())
  vae.compile(optimizer="adam")
  schedule = tfvae.schedules.make_schedule("sigmoid", warmup_steps=10, k=0.5)
  vae.fit(binary_images(), epochs=1, batch_size=16, verbose=0,
          callbacks=[tfvae.callbacks.KLSchedule(schedule)])
  vae.save(tmp_path / "m.keras")
  loaded = keras.models.load_model(tmp_path / "m.keras")
  assert loaded.balancer.get_config()["schedule"] == {
      "name": "sigmoid", "warmup_steps": 10, "k": 0.5}
  for step in (0, 3, 12):
    assert float(loaded.balancer.schedule(step)) == float(schedule(step))


def test_python_function_schedule_cannot_be_saved(tmp_path):
  vae = make_vae(L.Bernoulli(), B.KLWeight(schedule=lambda step: 0.5))
  vae.compile(optimizer="adam")
  vae.fit(binary_images(), epochs=1, batch_size=16, verbose=0)
  with pytest.raises(ValueError, match="schedule .* Python function"):
    vae.save(tmp_path / "m.keras")
  # Weights-only saving does not need the schedule's code.
  vae.save_weights(tmp_path / "m.weights.h5")


def test_users_registered_likelihood_and_balancer_round_trip(tmp_path):

  @L.register("test_saving_laplace")
  class Laplace(L.Likelihood):
    support = "real"

    def __init__(self, scale=1.0, name="likelihood", **kwargs):
      super().__init__(name=name, **kwargs)
      self.scale = scale

    def get_config(self):
      return {**super().get_config(), "scale": self.scale}

    def distribution(self, params, x=None):
      import tensorflow_probability as tfp  # pylint: disable=import-outside-toplevel
      return tfp.distributions.Laplace(params, self.scale)

  @B.register("test_saving_half")
  class Half(B.KLWeight):
    """Half the weighting's weight, with a counter as state."""

    def __init__(self, factor=0.5, **kwargs):
      super().__init__(**kwargs)
      self.factor = factor

    def get_config(self):
      return {**super().get_config(), "factor": self.factor}

    def weight(self, terms, step):
      return self.factor * tf.constant(terms.kl_weight, tf.float32)

  keras.utils.set_random_seed(0)
  vae = make_vae(Laplace(scale=0.2), Half(factor=0.25))
  loaded = _round_trip(vae, images(), tmp_path)
  assert isinstance(loaded.likelihood, Laplace)
  assert loaded.likelihood.scale == 0.2
  assert isinstance(loaded.balancer, Half) and loaded.balancer.factor == 0.25


def test_weights_only_saving_still_works(tmp_path):
  keras.utils.set_random_seed(0)
  x = images()
  vae = make_vae(L.Gaussian("learned"), B.ControlVAE(kl_target=0.5))
  vae.compile(optimizer="adam")
  vae.fit(x, epochs=1, batch_size=16, verbose=0)
  vae.save_weights(tmp_path / "m.weights.h5")
  other = make_vae(L.Gaussian("learned"), B.ControlVAE(kl_target=0.5))
  other.compile(optimizer="adam")
  other.prepare(x)
  other.load_weights(tmp_path / "m.weights.h5")
  for u, v in zip(vae.state_weights(), other.state_weights()):
    np.testing.assert_array_equal(u.numpy(), v.numpy())
