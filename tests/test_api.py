"""The public Python API: a user's own Keras encoder/decoder, any event shape.

Checked against independent numpy/scipy computations of the formulas, not
against the code's own output.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

import tfvae

T, D, J = 16, 3, 4


def sequences(n=96, seed=0):
  """Sinusoids of random frequency, phase and amplitude (3 known factors; the
  D channels are shifted copies), values in [-1, 1]."""
  rng = np.random.RandomState(seed)
  t = np.linspace(0.0, 1.0, T)[None, :, None]
  freq = rng.uniform(1, 3, size=(n, 1, 1))
  phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1)) + np.arange(D) * 0.7
  amp = rng.uniform(0.3, 1.0, size=(n, 1, 1))
  return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def conv1d_encoder(single_output=True):
  x = keras.Input((T, D))
  h = keras.layers.Conv1D(8, 3, strides=2, padding="same",
                          activation="relu")(x)
  h = keras.layers.Flatten()(h)
  if single_output:
    return keras.Model(x, keras.layers.Dense(2 * J)(h))
  return keras.Model(x, [keras.layers.Dense(J)(h), keras.layers.Dense(J)(h)])


def conv1d_decoder(channels=D):
  z = keras.Input((J,))
  h = keras.layers.Dense((T // 2) * 8, activation="relu")(z)
  h = keras.layers.Reshape((T // 2, 8))(h)
  return keras.Model(z, keras.layers.Conv1DTranspose(channels, 3, strides=2,
                                                     padding="same")(h))


def test_dir_lists_the_public_api():
  names = set(dir(tfvae))
  for name in ("VAE", "ReferenceVAE", "Weighting", "likelihoods", "balancers",
               "callbacks", "schedules", "objective", "evaluate",
               "export_saved_model"):
    assert name in names
  assert {"Linear", "GECO", "ControlVAE", "Capacity", "FreeBits",
          "Cyclical", "Sigmoid", "KLWeight"} <= set(dir(tfvae.balancers))


def test_sequence_vae_loss_equals_numpy_with_single_tensor_encoder():
  """A Conv1D VAE on [T, D] sequences in [-1, 1]: identity Gaussian mean,
  the loss is the mean/mean objective with beta_norm 0.1 (numpy)."""
  keras.utils.set_random_seed(0)
  x = sequences(32)
  vae = tfvae.VAE(conv1d_encoder(), conv1d_decoder(),
                  likelihood=tfvae.likelihoods.Gaussian(sigma=0.2),
                  weighting=tfvae.Weighting(rec="mean", kl="mean", beta=0.1))
  vae.resolve_data_range(x)
  assert vae.likelihood.mean_function == "identity"
  vae.sample_noise = False  # z = mean: the recomputation is exact
  terms = vae.compute_terms(tf.constant(x))
  out = vae.encoder(x).numpy().astype(np.float64)
  mu, log_var = out[:, :J], out[:, J:]
  loc = vae.decoder(mu.astype(np.float32)).numpy().astype(np.float64)
  nll = -stats.norm.logpdf(x, loc=loc, scale=0.2).reshape(len(x), -1).sum(1)
  kl = (-0.5 * (1 + log_var - mu**2 - np.exp(log_var))).sum(1)
  k = T * D
  expected = np.mean(nll / k + 0.1 * kl / J)
  assert float(terms["loss"]) == pytest.approx(expected, rel=1e-5)
  assert float(terms["beta_norm"]) == pytest.approx(0.1, rel=1e-6)
  assert float(terms["beta_eff"]) == pytest.approx(0.1 * k / J, rel=1e-6)
  np.testing.assert_allclose(terms["distortion"].numpy(), nll, rtol=1e-5)
  np.testing.assert_allclose(terms["rate"].numpy(), kl, rtol=1e-4, atol=1e-6)


def test_pair_and_single_tensor_encoders_give_the_same_loss():
  keras.utils.set_random_seed(1)
  pair = conv1d_encoder(single_output=False)
  mean_kernel, mean_bias = pair.layers[-2].get_weights()
  var_kernel, var_bias = pair.layers[-1].get_weights()
  single = conv1d_encoder(single_output=True)
  single.layers[1].set_weights(pair.layers[1].get_weights())
  single.layers[-1].set_weights([np.concatenate([mean_kernel, var_kernel], 1),
                                 np.concatenate([mean_bias, var_bias])])
  decoder = conv1d_decoder()
  x = tf.constant(sequences(16))
  losses = []
  for encoder in (pair, single):
    vae = tfvae.VAE(encoder, decoder,
                    likelihood=tfvae.likelihoods.Gaussian(0.5, mean="identity"))
    vae.sample_noise = False
    losses.append(float(vae.compute_terms(x)["loss"]))
  assert losses[0] == pytest.approx(losses[1], rel=1e-6)


def test_fit_learns_real_valued_sequences_outside_the_unit_interval():
  """The real-valued Gaussian mean reconstructs negative values (a sigmoid
  mean could not) and training lowers the validation -ELBO."""
  keras.utils.set_random_seed(0)
  x = sequences(256)
  vae = tfvae.VAE(conv1d_encoder(), conv1d_decoder(),
                  likelihood=tfvae.likelihoods.Gaussian(sigma=0.1))
  vae.compile(optimizer=keras.optimizers.Adam(3e-3))
  before = tfvae.evaluate(vae, x[192:])["neg_elbo"]
  vae.fit(x[:192], validation_data=x[192:], epochs=30, batch_size=32,
          verbose=0)
  after = tfvae.evaluate(vae, x[192:])
  assert after["neg_elbo"] < 0.5 * before
  recon = vae.reconstruct(x[192:]).numpy()
  assert recon.min() < -0.3 and recon.max() > 0.3
  assert np.mean((recon - x[192:])**2) < 0.5 * np.var(x[192:])
  assert 0 < after["active_units"] <= J


@pytest.mark.parametrize("encoder_out,match", [
    (lambda h: keras.layers.Dense(2 * J + 1)(h), "encoder must return"),
    (lambda h: [keras.layers.Dense(J)(h)] * 4, "encoder must return"),
    (lambda h: [keras.layers.Dense(J)(h)] * 2 + [keras.layers.Dense(1)(h)],
     "encoder must return"),
    (lambda h: [keras.layers.Dense(J)(h), keras.layers.Dense(J + 1)(h)],
     "encoder must return"),
])
def test_bad_encoder_output_is_one_value_error_before_any_step(encoder_out,
                                                               match):
  x = keras.Input((T, D))
  h = keras.layers.Flatten()(x)
  encoder = keras.Model(x, encoder_out(h))
  vae = tfvae.VAE(encoder, conv1d_decoder(),
                  likelihood=tfvae.likelihoods.Gaussian(0.5, mean="identity"))
  vae.compile(optimizer="adam")
  with pytest.raises(ValueError, match=match):
    vae.fit(sequences(32), epochs=1, batch_size=16, verbose=0)
  assert int(vae.optimizer.iterations.numpy()) == 0


def test_decoder_output_must_match_the_likelihood_parameters():
  # learned_feature needs 2 D channels; this decoder gives D.
  vae = tfvae.VAE(conv1d_encoder(), conv1d_decoder(D),
                  likelihood=tfvae.likelihoods.Gaussian("learned_feature",
                                                        mean="identity"))
  vae.compile(optimizer="adam")
  with pytest.raises(ValueError, match=r"decoder must map z .* \[batch, 16, 6\]"):
    vae.fit(sequences(32), epochs=1, batch_size=16, verbose=0)


def test_bad_arguments_name_themselves():
  enc, dec = conv1d_encoder(), conv1d_decoder()
  with pytest.raises(ValueError, match="beta and beta_norm"):
    tfvae.Weighting(beta=1.0, beta_norm=0.1)
  with pytest.raises(ValueError, match="balancer must be one of"):
    tfvae.VAE(enc, dec, balancer="warmup")
  with pytest.raises(TypeError, match="likelihood must be"):
    tfvae.VAE(enc, dec, likelihood="gaussian")
  with pytest.raises(ValueError, match="rec must be 'sum' or 'mean'"):
    tfvae.Weighting(rec="avg")
  with pytest.raises(ValueError, match="sigma must be"):
    tfvae.likelihoods.Gaussian(sigma="huge")
  with pytest.raises(ValueError, match="kl_estimator"):
    tfvae.VAE(enc, dec, kl_estimator="exact")


def test_kl_schedule_is_exact_at_every_step_with_several_steps_per_call():
  """Linear warm-up w(t) = min(1, t / 10) on every step, 4 steps per call."""
  keras.utils.set_random_seed(0)
  x = sequences(64)
  vae = tfvae.VAE(conv1d_encoder(), conv1d_decoder(),
                  likelihood=tfvae.likelihoods.Gaussian(0.5, mean="identity"))
  vae.compile(optimizer="adam", steps_per_execution=4)
  seen = {}

  class Record(keras.callbacks.Callback):

    def on_train_batch_end(self, batch, logs=None):
      steps, values = vae.read_step_log(max(seen, default=0))
      seen.update(zip(steps.tolist(), values["kl_weight"].tolist()))

  schedule = tfvae.schedules.make_schedule("linear", warmup_steps=10)
  vae.fit(x, epochs=2, batch_size=8, verbose=0,
          callbacks=[tfvae.callbacks.KLSchedule(schedule), Record()])
  assert sorted(seen) == list(range(1, 17))
  for step, weight in seen.items():
    # Step s (1-based) used the weight of the optimiser count s - 1.
    assert weight == pytest.approx(min(1.0, (step - 1) / 10), abs=1e-6)


def test_objective_function_equals_the_model_loss_and_gradient():
  keras.utils.set_random_seed(2)
  enc, dec = conv1d_encoder(), conv1d_decoder()
  likelihood = tfvae.likelihoods.Gaussian("learned", mean="identity")
  weighting = tfvae.Weighting(beta_norm=0.5)
  vae = tfvae.VAE(enc, dec, likelihood=likelihood, weighting=weighting)
  vae.sample_noise = False
  x = tf.constant(sequences(16))
  with tf.GradientTape(persistent=True) as tape:
    model_loss = vae.compute_terms(x)["loss"]
    out = enc(x)
    mean, log_var = out[:, :J], out[:, J:]
    own = tfvae.objective(x, mean, log_var, mean, dec(mean), likelihood,
                          weighting=weighting)
  assert float(own["loss"]) == pytest.approx(float(model_loss), rel=1e-6)
  assert float(own["beta_eff"]) == pytest.approx(0.5 * T * D / J)
  for a, b in zip(tape.gradient(model_loss, vae.trainable_variables),
                  tape.gradient(own["loss"], vae.trainable_variables)):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)


def test_flat_vectors_with_a_balancer_and_checkpoint_resume(tmp_path):
  """[D] vectors, ControlVAE state checkpointed by the callback and restored
  by a new model: the step and the controller continue."""
  keras.utils.set_random_seed(0)
  x = np.random.RandomState(0).normal(size=(64, 10)).astype(np.float32)

  def make():
    enc = keras.Sequential([keras.Input((10,)), keras.layers.Dense(2 * 2)])
    dec = keras.Sequential([keras.Input((2,)), keras.layers.Dense(10)])
    vae = tfvae.VAE(enc, dec, likelihood=tfvae.likelihoods.Gaussian(
        "learned_channel"), balancer=tfvae.balancers.ControlVAE(kl_target=2.0))
    vae.compile(optimizer="adam")
    return vae

  first = make()
  first.fit(x, epochs=2, batch_size=16, verbose=0, callbacks=[
      tfvae.callbacks.Checkpoint(str(tmp_path / "ckpt"), every=4)])
  assert first.likelihood.mean_function == "identity"
  assert first.likelihood.raw_log_sigma.shape == (10,)
  state = float(first.balancer.integral.numpy())
  assert state != 0.0
  second = make()
  restore = tfvae.callbacks.Checkpoint(str(tmp_path / "ckpt"), every=4)
  second.fit(x[:16], epochs=1, batch_size=16, verbose=0, callbacks=[restore])
  assert restore.restored is not None
  assert int(second.optimizer.iterations.numpy()) == 9
  # The restored integral took one more PI step from the saved state.
  assert abs(float(second.balancer.integral.numpy()) - state) < 1e-3


def test_python_model_exports_and_serves_without_tfvae(tmp_path):
  keras.utils.set_random_seed(0)
  x = sequences(32)
  vae = tfvae.VAE(conv1d_encoder(), conv1d_decoder(),
                  likelihood=tfvae.likelihoods.Gaussian(0.3))
  vae.compile(optimizer="adam")
  vae.fit(x, epochs=1, batch_size=16, verbose=0)
  path = tfvae.export_saved_model(vae, str(tmp_path / "served"))
  loaded = tf.saved_model.load(path)
  recon = loaded.signatures["reconstruct"](x=tf.constant(x[:4]))
  values = list(recon.values())[0].numpy()
  np.testing.assert_allclose(values, vae.reconstruct(x[:4]).numpy(),
                             rtol=1e-5, atol=1e-6)
  scores = loaded.signatures["elbo"](x=tf.constant(x[:4]))
  assert np.all(np.isfinite(scores["neg_elbo"].numpy()))
  # sigma 0.3 fixed: the score is a Gaussian NLL plus a KL, at least the
  # NLL's constant part K (log 0.3 + log(2 pi) / 2).
  floor = T * D * (math.log(0.3) + 0.5 * math.log(2 * math.pi))
  assert np.all(scores["neg_elbo"].numpy() > floor)
