"""A user's own likelihood, registered the documented way, works like a built-in.

It trains from `tfvae.VAE`, evaluates (IWAE included), round-trips through
`model.save(".keras")`, exports, is served by a process that cannot import
tfvae and by tfvae's own SavedModel reader, and appears in the translator.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf
import tensorflow_probability as tfp

import tfvae
import tfvae.errors
from tfvae import conventions
from tfvae.export.reader import SavedModelAdapter

NAME = "user_poisson"


@tfvae.likelihoods.register(NAME)
class UserPoisson(tfvae.likelihoods.Likelihood):
  """Counts: p(x|z) = Poisson(x; exp(params))."""

  support = "counts"

  def distribution(self, params, x=None):
    return tfp.distributions.Poisson(log_rate=params)

  def check_data(self, x, argument="x"):
    if np.any(x < 0) or np.any(x != np.round(x)):
      raise tfvae.likelihoods.base.data_error(
          argument, "user_poisson needs non-negative integer counts")
    return []


D, J = 6, 2
COUNTS = np.random.RandomState(0).poisson(3.0, size=(256, D)).astype(
    np.float32)


def _model():
  keras.utils.set_random_seed(0)
  encoder = keras.Sequential([keras.Input((D,)), keras.layers.Dense(16, "relu"),
                              keras.layers.Dense(2 * J)])
  decoder = keras.Sequential([keras.Input((J,)), keras.layers.Dense(16, "relu"),
                              keras.layers.Dense(D)])
  return tfvae.VAE(encoder, decoder, likelihood=UserPoisson())


@pytest.fixture(scope="module")
def trained():
  vae = _model()
  vae.compile(optimizer="adam")
  vae.fit(COUNTS, batch_size=32, epochs=2, verbose=0)
  return vae


def test_density_is_scipys_poisson(trained):
  params = trained.decode_params(tf.zeros([1, J]))
  expected = scipy.stats.poisson.logpmf(COUNTS[:1], np.exp(params.numpy()))
  np.testing.assert_allclose(
      trained.likelihood.log_likelihood(COUNTS[:1], params).numpy(),
      expected.sum(axis=1), rtol=1e-5)


def test_trains_and_evaluates_with_iwae(trained):
  result = tfvae.evaluate(trained, COUNTS[:64], iw_samples=10)
  assert np.isfinite(result["neg_elbo"]) and np.isfinite(result["iwae_nll"])
  assert result["iwae_nll"] <= result["neg_elbo"] + 0.5


def test_bad_counts_are_refused_by_the_familys_check(trained):
  with pytest.raises(tfvae.errors.DataError,
                     match="user_poisson needs non-negative"):
    trained.likelihood.check_data(COUNTS - 10, "x")


def test_keras_file_round_trip(trained, tmp_path):
  path = str(tmp_path / "poisson.keras")
  trained.save(path)
  loaded = keras.models.load_model(path)
  assert isinstance(loaded.likelihood, UserPoisson)
  z = tf.constant(np.random.RandomState(1).normal(size=(4, J)), tf.float32)
  np.testing.assert_allclose(loaded.decode_params(z).numpy(),
                             trained.decode_params(z).numpy(), rtol=1e-6)


def test_exported_served_without_tfvae_and_read_back(trained, tmp_path):
  path = tfvae.export_saved_model(trained, str(tmp_path / "export"))
  with open(os.path.join(path, "assets", "tfvae_export.json")) as f:
    assert json.load(f)["likelihood_description"] == {"likelihood": NAME}
  np.save(tmp_path / "x.npy", COUNTS[:5])
  code = ("import sys, json\nsys.modules['tfvae'] = None\n"
          "import numpy as np, tensorflow as tf\n"
          "m = tf.saved_model.load(sys.argv[1])\n"
          "x = tf.constant(np.load(sys.argv[2]))\n"
          "print(json.dumps(m.signatures['elbo'](x=x)['neg_elbo']"
          ".numpy().tolist()))\n")
  proc = subprocess.run([sys.executable, "-c", code, path,
                         str(tmp_path / "x.npy")], capture_output=True,
                        text=True, timeout=300,
                        env=dict(os.environ, PYTHONPATH=""))
  assert proc.returncode == 0, proc.stderr[-2000:]
  served = np.array(json.loads(proc.stdout.strip().splitlines()[-1]))
  assert served.shape == (5,) and np.all(np.isfinite(served))
  adapter = SavedModelAdapter(path)
  z = tf.zeros([5, J])
  np.testing.assert_allclose(
      adapter.log_likelihood(COUNTS[:5], z).numpy(),
      trained.log_likelihood(COUNTS[:5], z).numpy(), rtol=1e-5)


def test_appears_in_the_translator():
  convention = conventions.read("tfvae", reconstruction_loss=NAME, beta=0.5,
                                input_shape=(D,), latent_dim=J)
  assert convention.decoder_likelihood == NAME
  assert convention.beta_eff == pytest.approx(0.5)
  assert convention.tfvae_flags()["likelihood"] == NAME
  meaning = conventions.convention.likelihood_meaning(NAME)
  assert "UserPoisson" in meaning["reconstruction"]
