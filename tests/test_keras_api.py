"""The model as a Keras citizen: sample/decode/encode/reconstruct, and Keras'
own callbacks monitoring `val_neg_elbo`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfvae

J = 2


def images(n=32, seed=0):
  return (np.random.RandomState(seed).uniform(size=(n, 8, 8, 1)) > 0.5
          ).astype(np.float32)


def make(likelihood=None, **kwargs):
  encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(2 * J)])
  decoder = keras.Sequential([keras.Input((J,)), keras.layers.Dense(64),
                              keras.layers.Reshape((8, 8, 1))])
  vae = tfvae.VAE(encoder, decoder,
                  likelihood=likelihood or tfvae.likelihoods.Bernoulli(),
                  **kwargs)
  vae.compile(optimizer=keras.optimizers.Adam(1e-2))
  return vae


def test_sample_decode_encode_reconstruct_shapes_and_values():
  keras.utils.set_random_seed(0)
  vae = make()
  with pytest.raises(ValueError, match="sample needs a built model"):
    vae.sample(3)
  x = images()
  vae.fit(x, epochs=1, batch_size=16, verbose=0)
  mean, log_variance = vae.encode(x[:5])
  assert mean.shape == (5, J) and log_variance.shape == (5, J)
  z = tf.random.stateless_normal([5, J], seed=[1, 2])
  decoded = vae.decode(z)
  np.testing.assert_allclose(decoded.numpy(),
                             tf.sigmoid(vae.decoder(z)).numpy(), rtol=1e-6)
  np.testing.assert_allclose(vae.reconstruct(x[:5]).numpy(),
                             vae.decode(mean).numpy(), rtol=1e-6)
  means = vae.sample(6, seed=3)
  assert means.shape == (6, 8, 8, 1)
  assert np.all((means.numpy() > 0) & (means.numpy() < 1))
  np.testing.assert_array_equal(vae.sample(6, seed=3).numpy(), means.numpy())
  assert not np.array_equal(vae.sample(6, seed=4).numpy(), means.numpy())
  draws = vae.sample(6, seed=3, mean=False).numpy()
  assert draws.shape == (6, 8, 8, 1)
  assert set(np.unique(draws)) <= {0.0, 1.0}
  np.testing.assert_array_equal(vae.sample(6, seed=3, mean=False).numpy(),
                                draws)
  assert vae.sample(2).shape == (2, 8, 8, 1)
  with pytest.raises(ValueError, match="n must be an integer >= 1"):
    vae.sample(0)


def test_sample_draws_follow_the_likelihood():
  """mean=False draws a Gaussian around the decoded mean: with a fixed sigma
  the draws' residuals have that standard deviation."""
  keras.utils.set_random_seed(0)
  vae = make(tfvae.likelihoods.Gaussian(0.3, mean="identity"))
  vae.prepare(images())
  means = vae.sample(500, seed=1).numpy()
  draws = vae.sample(500, seed=1, mean=False).numpy()
  assert np.std(draws - means) == pytest.approx(0.3, rel=0.03)


def test_reference_vae_samples():
  keras.utils.set_random_seed(0)
  encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(2 * J)])
  decoder = keras.Sequential([keras.Input((J,)), keras.layers.Dense(64),
                              keras.layers.Reshape((8, 8, 1))])
  vae = tfvae.ReferenceVAE(encoder, decoder, rec="bce")
  vae.prepare(images())
  draws = vae.sample(4, seed=0, mean=False).numpy()
  assert set(np.unique(draws)) <= {0.0, 1.0}


def test_keras_callbacks_monitor_val_neg_elbo(tmp_path):
  keras.utils.set_random_seed(0)
  x = images(64)
  vae = make()
  best = str(tmp_path / "best.keras")
  history = vae.fit(
      x[:48], validation_data=x[48:], epochs=3, batch_size=16, verbose=0,
      callbacks=[
          keras.callbacks.EarlyStopping(monitor="val_neg_elbo", mode="min",
                                        patience=1,
                                        restore_best_weights=True),
          keras.callbacks.ReduceLROnPlateau(monitor="val_neg_elbo",
                                            mode="min", patience=1),
          keras.callbacks.ModelCheckpoint(best, monitor="val_neg_elbo",
                                          mode="min", save_best_only=True),
      ])
  values = history.history["val_neg_elbo"]
  loaded = keras.models.load_model(best)
  score = tfvae.evaluate(loaded, x[48:], batch_size=16)
  # The saved model is the best epoch's (a fresh Monte Carlo evaluation of
  # it, so not bit-equal to Keras' number).
  assert score["neg_elbo"] == pytest.approx(min(values), rel=0.1)


def test_keras_cannot_infer_the_direction_of_a_custom_metric():
  """Keras 3 infers min/max only for its compiled metrics (from a private
  attribute), so EarlyStopping, ReduceLROnPlateau and ModelCheckpoint need
  mode="min" (what the docs show); this test tells us when Keras learns to
  do it without."""
  vae = make()
  with pytest.raises(ValueError, match="mode='min'"):
    vae.fit(images(), validation_data=images(8), epochs=1, batch_size=16,
            verbose=0, callbacks=[keras.callbacks.EarlyStopping(
                monitor="val_neg_elbo")])
