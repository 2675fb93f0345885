"""Bad input to the Python API: one exception naming the argument, no step.

The mistakes users make with a small `tfvae.VAE` on 8x8 images: each is one
ValueError (or a warning, for a decoder that ends in a sigmoid) whose message
names the argument (`x`, `validation_data`, `data`, `encoder`, `decoder`)
and what to do, raised before the optimiser takes a step.
"""

import re
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfvae
from tfvae.errors import DataError
from tfvae.errors import TfvaeError

J = 2
L = tfvae.likelihoods


def images(n=32, seed=0):
  return np.random.RandomState(seed).uniform(size=(n, 8, 8, 1)).astype(
      np.float32)


def encoder(width=2 * J):
  return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                           keras.layers.Dense(width)])


def decoder(activation=None):
  return keras.Sequential([keras.Input((J,)),
                           keras.layers.Dense(64, activation=activation),
                           keras.layers.Reshape((8, 8, 1))])


def make(likelihood=None, enc=None, dec=None):
  vae = tfvae.VAE(enc or encoder(), dec or decoder(),
                  likelihood=likelihood or L.Bernoulli())
  vae.compile(optimizer="adam")
  return vae


def _fit_raises(vae, argument, pattern, x, **kwargs):
  with pytest.raises(ValueError) as info:
    vae.fit(x, epochs=1, batch_size=8, verbose=0, **kwargs)
  message = str(info.value)
  assert re.search(rf"\b{argument}\b", message), message
  assert re.search(pattern, message), message
  assert int(vae.optimizer.iterations.numpy()) == 0
  return info.value


def test_data_error_is_a_value_error():
  assert issubclass(DataError, ValueError)
  assert issubclass(DataError, TfvaeError)


def test_nan_in_x():
  x = images()
  x[3, 2, 2, 0] = np.nan
  error = _fit_raises(make(), "x", r"1 of 2048 values are NaN or infinite",
                      x)
  assert isinstance(error, DataError) and error.params == ("x",)


def test_uint8_images_to_a_bernoulli():
  x = (images() * 255).astype(np.uint8)
  _fit_raises(make(L.Bernoulli()), "x", r"divide them by 255", x)


def test_values_above_one_to_a_bernoulli():
  _fit_raises(make(L.Bernoulli()), "x", r"values in \[0, 1\].*divide uint8",
              images() * 1.5)


def test_standardised_data_to_a_continuous_bernoulli():
  x = images()
  x = (x - x.mean()) / x.std()
  _fit_raises(make(L.ContinuousBernoulli()), "x",
              r"standardised .* needs a Gaussian", x)


def test_gaussian_with_a_sigmoid_mean_needs_the_unit_interval():
  _fit_raises(make(L.Gaussian(0.5, mean="sigmoid")), "x",
              r"mean='identity'", images() - 0.5)


def test_gaussian_with_an_identity_mean_takes_any_real_data():
  vae = make(L.Gaussian(0.5, mean="identity"))
  vae.fit(images() - 0.5, epochs=1, batch_size=16, verbose=0)
  assert int(vae.optimizer.iterations.numpy()) == 2


def test_empty_array():
  _fit_raises(make(), "x", r"no examples", np.zeros((0, 8, 8, 1), np.float32))


def test_empty_dataset():
  data = tf.data.Dataset.from_tensor_slices(images()).take(0).batch(8)
  _fit_raises(make(), "x", r"tf.data.Dataset is empty", data)


def test_nan_in_the_first_batch_of_a_dataset():
  x = images()
  x[0, 0, 0, 0] = np.inf
  data = tf.data.Dataset.from_tensor_slices(x).batch(8)
  _fit_raises(make(), "x", r"NaN or infinite", data)


def test_encoder_that_returns_only_the_means():
  error = _fit_raises(make(enc=encoder(width=J)), "encoder",
                      r"width 2 each, or one tensor of width 4 .* it "
                      r"returns width 2", images())
  assert not isinstance(error, DataError)


def test_encoder_that_cannot_take_x():
  enc = keras.Sequential([keras.Input((10,)), keras.layers.Dense(2 * J)])
  _fit_raises(make(enc=enc), "encoder", r"cannot take x of shape", images())


def test_validation_data_of_another_shape():
  _fit_raises(make(), "validation_data", r"shape \[4, 4, 1\].*\[8, 8, 1\]",
              images(), validation_data=images()[:, :4, :4])


def test_validation_data_with_nan_or_outside_the_support():
  bad = images(8)
  bad[0, 0, 0, 0] = np.nan
  _fit_raises(make(), "validation_data", r"NaN", images(),
              validation_data=bad)
  _fit_raises(make(), "validation_data", r"divide", images(),
              validation_data=(images(8) * 255, None))


def test_decoder_ending_in_a_sigmoid_warns_for_a_logit_likelihood():
  with pytest.warns(UserWarning, match=r"decoder: its last layer applies a "
                    r"sigmoid, but Bernoulli takes logits"):
    make(dec=decoder("sigmoid")).fit(images(), epochs=1, batch_size=16,
                                     verbose=0)
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    # Identity mean: a sigmoid decoder is a legitimate choice.
    make(L.Gaussian(0.5, mean="identity"), dec=decoder("sigmoid")).prepare(
        images())
    # A logit decoder on binary data: nothing to warn about.
    make(dec=decoder()).prepare(np.round(images()))


def test_evaluate_checks_its_data():
  vae = make()
  x = images()
  x[1, 1, 1, 0] = np.nan
  with pytest.raises(ValueError, match=r"^data: .*NaN"):
    tfvae.evaluate(vae, x)
  with pytest.raises(ValueError, match=r"^data: .*divide"):
    tfvae.evaluate(vae, tf.data.Dataset.from_tensor_slices(
        images() * 255).batch(8))
  with pytest.raises(ValueError, match=r"^x: no examples"):
    vae.evaluate(np.zeros((0, 8, 8, 1), np.float32), verbose=0)
  vae.fit(images(), epochs=1, batch_size=16, verbose=0)
  with pytest.raises(ValueError, match=r"^data: examples of shape \[4, 4, "
                     r"1\], but the model was built for \[8, 8, 1\]"):
    tfvae.evaluate(vae, images()[:, :4, :4])


def test_objective_checks_eager_data_and_shapes():
  likelihood = L.Bernoulli()
  x = tf.constant(images(4))
  mean = tf.zeros([4, J])
  params = tf.zeros([4, 8, 8, 1])
  out = tfvae.objective(x, mean, mean, mean, params, likelihood)
  assert np.isfinite(float(out["loss"]))
  with pytest.raises(ValueError, match=r"^x: .*divide"):
    tfvae.objective(x * 255.0, mean, mean, mean, params, likelihood)
  with pytest.raises(ValueError, match=r"^params \(the decoder's output\) "
                     r"must have shape \[batch, 8, 8, 1\]"):
    tfvae.objective(x, mean, mean, mean, params[:, :4], likelihood)
  with pytest.raises(ValueError, match=r"^z_log_variance must have the "
                     r"shape of z_mean"):
    tfvae.objective(x, mean, mean[:, :1], mean, params, likelihood)
