"""The sentence VAE: teacher forcing, word dropout, generation, checks, metrics."""

import math
import types

import numpy as np
import pytest
import keras
import tensorflow as tf

import tfvae
from tfvae import balancing
from tfvae.balancing import schedules
from tfvae.errors import DataError
from tfvae.metrics import diagnostics
from tfvae.metrics import text as text_metrics
from tfvae.models import sequence
from tfvae.objectives import kl as kl_lib

V, T, J = 23, 9, 3
PAD, UNK, BOS, EOS = (sequence.PAD_ID, sequence.UNK_ID, sequence.BOS_ID,
                      sequence.EOS_ID)


def sentences(n, seed=0):
  """n sentences of 1..T-1 words from ids 4..V-1, the end token, padding."""
  rng = np.random.default_rng(seed)
  x = np.full((n, T), PAD, np.int32)
  for i, length in enumerate(rng.integers(1, T, size=n)):
    x[i, :length] = rng.integers(4, V, size=length)
    x[i, length] = EOS
  return x


X = sentences(48)


def make_model(**kwargs):
  keras_seed = kwargs.pop("keras_seed", 1)
  tf.keras.utils.set_random_seed(keras_seed)
  encoder = sequence.gru_encoder(V, J, embedding_dim=8, units=16)
  decoder = sequence.gru_decoder(V, J, embedding_dim=8, units=16)
  return tfvae.SequenceVAE(encoder, decoder, V, **kwargs)


def numpy_masked_nll(ids, logits):
  logits = logits.astype(np.float64)
  shifted = logits - logits.max(-1, keepdims=True)
  log_softmax = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
  picked = np.take_along_axis(log_softmax, ids[..., None].astype(int),
                              -1)[..., 0]
  return -np.sum(np.where(ids == PAD, 0.0, picked), axis=1)


def test_decoder_inputs_are_x_shifted_behind_the_begin_token():
  model = make_model()
  inputs = model.decoder_inputs(X).numpy()
  np.testing.assert_array_equal(inputs[:, 0], BOS)
  np.testing.assert_array_equal(inputs[:, 1:], X[:, :-1])


def test_teacher_forcing_cannot_leak():
  """Changing token t leaves the decoder's outputs at positions <= t alone
  (and changes a later one: the test can fail)."""
  model = make_model()
  model.build((None, T))
  z = tf.random.stateless_normal([X.shape[0], J], seed=[1, 2])
  base = model.teacher_forced_logits(X, z).numpy()
  for t in range(T - 1):
    changed = X.copy()
    changed[:, t] = (changed[:, t] + 5) % V
    logits = model.teacher_forced_logits(changed, z).numpy()
    np.testing.assert_array_equal(logits[:, :t + 1], base[:, :t + 1])
    assert np.abs(logits[:, t + 1] - base[:, t + 1]).max() > 1e-4


def test_distortion_is_the_masked_sum_and_loss_the_objective():
  model = make_model(balancer=sequence.logistic_annealing())
  model.compile(optimizer="adam")
  model.build((None, T))
  # At evaluation z is a seeded sample: recompute it for the same z.
  with diagnostics.posterior_noise(model, [4, 5]):
    terms = model.compute_terms(X, training=False)
  z_mean, z_log_var = model.encode(X)
  z = kl_lib.sample_latent(z_mean, z_log_var, stateless_seed=[4, 5])
  logits = model.teacher_forced_logits(X, z).numpy()
  np.testing.assert_allclose(terms["distortion"].numpy(),
                             numpy_masked_nll(X, logits), rtol=1e-5)
  w = float(schedules.sigmoid(0, 0, k=0.0025, x0=2500))
  expected = np.mean(terms["distortion"].numpy() + w * terms["rate"].numpy())
  assert float(terms["loss"]) == pytest.approx(expected, rel=1e-5)
  tokens = (X != PAD).sum()
  assert float(terms["perplexity"]) == pytest.approx(
      math.exp(float(terms["neg_elbo"]) * len(X) / tokens), rel=1e-5)


def test_word_dropout_replaces_words_only_and_is_seeded_by_step():
  model = make_model(word_dropout=0.5, seed=3)
  model.compile(optimizer="adam")
  model.build((None, T))
  clean = model.decoder_inputs(X, training=False).numpy()
  first = model.decoder_inputs(X, training=True).numpy()
  again = model.decoder_inputs(X, training=True).numpy()
  np.testing.assert_array_equal(first, again)
  changed = first != clean
  assert np.all(first[changed] == UNK)
  assert not np.any(changed[clean == BOS]) and not np.any(
      changed[clean == PAD])
  droppable = (clean != BOS) & (clean != PAD)
  assert 0.35 < changed[droppable].mean() < 0.65
  model.optimizer.iterations.assign(1)
  assert np.any(model.decoder_inputs(X, training=True).numpy() != first)
  everything = make_model(word_dropout=1.0)
  everything.compile(optimizer="adam")
  dropped = everything.decoder_inputs(X, training=True).numpy()
  np.testing.assert_array_equal(dropped, np.where(droppable, UNK, clean))


def test_word_dropout_draws_are_not_the_posterior_noise():
  """Its own stream: u never equals Phi(eps) of the posterior sample."""
  model = make_model(word_dropout=0.5)
  model.compile(optimizer="adam")
  model.build((None, T))
  u = model._word_dropout_uniform(tf.zeros([4, J], tf.int32)).numpy()  # pylint: disable=protected-access
  eps = model.sample_posterior(tf.zeros([4, J]), tf.zeros([4, J]),
                               training=True).numpy()
  from scipy import stats  # pylint: disable=import-outside-toplevel
  assert np.abs(stats.norm.cdf(eps) - u).min() > 1e-6


def test_greedy_generation_is_the_argmax_of_its_own_teacher_forcing():
  model = make_model()
  model.build((None, T))
  # Make the end token likely enough that some sentences end early.
  logits_layer = model.decoder.get_layer("logits")
  logits_layer.bias.assign(np.eye(V, dtype=np.float32)[EOS] * 0.6)
  z = tf.random.stateless_normal([6, J], seed=[7, 8])
  out = model.generate(z)
  assert out.shape == (6, T) and out.dtype == np.int32
  again = model.generate(z)
  np.testing.assert_array_equal(out, again)
  logits = model.teacher_forced_logits(out, z).numpy()
  logits[..., [PAD, BOS]] = -np.inf
  for i, row in enumerate(out):
    ends = np.flatnonzero(row == EOS)
    length = ends[0] + 1 if ends.size else T
    np.testing.assert_array_equal(row[:length],
                                  logits[i, :length].argmax(-1))
    assert np.all(row[length:] == PAD)
  assert np.any(out == EOS) and np.any(out[:, -1] == PAD)
  sampled = model.generate(z, temperature=1.0, seed=5)
  np.testing.assert_array_equal(sampled,
                                model.generate(z, temperature=1.0, seed=5))
  assert not np.any(sampled == BOS)
  assert model.sample(3, seed=1).shape == (3, T)
  assert model.reconstruct(X[:4]).shape == (4, T)
  assert model.generate(z, max_length=4).shape == (6, 4)


@pytest.mark.parametrize("bad, words", [
    (np.where(X == 5, V, X), r"ids must lie in \[0, 23\)"),
    (X.astype(np.float32) + 0.25, "non-integer"),
    (np.pad(X, ((0, 0), (0, 2)), constant_values=7), "longer than"),
])
def test_bad_input_names_x(bad, words):
  model = make_model()
  model.compile(optimizer="adam")
  model.build((None, T))
  with pytest.raises(DataError, match=f"^x: .*{words}"):
    model.fit(bad, epochs=1, verbose=0)
  with pytest.raises(DataError, match=f"^validation_data: .*{words}"):
    model.fit(X, validation_data=bad, epochs=1, verbose=0)


def test_bad_arguments():
  with pytest.raises(ValueError, match="word_dropout"):
    make_model(word_dropout=1.5)
  with pytest.raises(ValueError, match="must differ"):
    make_model(unk_id=PAD)
  with pytest.raises(ValueError, match="bos_id"):
    make_model(bos_id=V)
  with pytest.raises(ValueError, match="decoder must map"):
    tfvae.SequenceVAE(sequence.gru_encoder(V, J), sequence.gru_decoder(
        V + 1, J), V).build((None, T))


def test_shorter_sequences_are_padded_and_float_ids_accepted():
  model = make_model()
  model.build((None, T))
  ids = model.check_ids(X[:, :5].astype(np.float32))
  assert ids.shape == (len(X), T) and ids.dtype == np.int32
  np.testing.assert_array_equal(ids[:, 5:], PAD)


def counting_sentences(n, seed=0):
  """Runs of consecutive ids from a random start: learnable from z and the
  previous token."""
  rng = np.random.default_rng(seed)
  x = np.full((n, T), PAD, np.int32)
  for i, (length, start) in enumerate(zip(rng.integers(2, T, size=n),
                                          rng.integers(4, V - T, size=n))):
    x[i, :length] = start + np.arange(length)
    x[i, length] = EOS
  return x


@pytest.mark.slow
def test_training_learns_and_every_balancer_applies():
  x_train = counting_sentences(256, seed=1)
  annealed = sequence.logistic_annealing()
  for balancer in (balancing.FreeBits(0.25, inner=annealed),
                   balancing.Cyclical(32, n_cycles=4, ratio=0.5),
                   balancing.Linear(20, start=0.1)):
    model = make_model(balancer=balancer, word_dropout=0.25)
    model.compile(optimizer=tf.keras.optimizers.Adam(3e-3))
    history = model.fit(x_train, batch_size=32, epochs=4, verbose=0)
    losses = history.history["distortion"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.9 * losses[0]


def test_evaluate_text_per_token_numbers():
  model = make_model()
  model.compile(optimizer="adam")
  model.build((None, T))
  result = text_metrics.evaluate_text(model, X, batch_size=16, iw_samples=4)
  tokens = (X != PAD).sum()
  assert result["tokens_per_sentence"] == pytest.approx(tokens / len(X))
  assert result["perplexity"] == pytest.approx(
      math.exp(result["neg_elbo"] * len(X) / tokens), rel=1e-9)
  assert result["iwae_perplexity"] == pytest.approx(
      math.exp(result["iwae_nll"] * len(X) / tokens), rel=1e-9)
  assert result["nll"] == result["neg_elbo"]
  for key in ("rate", "active_units", "mutual_information", "kl_per_dim"):
    assert key in result
  # An untrained model is near uniform over V classes.
  assert V / 3 < result["perplexity"] < 3 * V


# ------------------------------------------------------- the papers' schedules


def test_bowman_logistic_is_tfvae_sigmoid():
  steps = np.arange(0, 10001, 7)
  expected = 1.0 / (1.0 + np.exp(-0.0025 * (steps - 2500.0)))
  balancer = sequence.logistic_annealing()
  # Up to the Weighting's weight: 1 (the ELBO) by default.
  terms = types.SimpleNamespace(kl_weight=1.0)
  got = balancer.weight(terms, tf.constant(steps)).numpy()
  np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
  assert got[0] == pytest.approx(0.0019267, rel=1e-4)


def test_texar_linear_is_tfvae_linear_one_step_later():
  warmup = 1000  # W: warm-up epochs x batches per epoch
  weight, texar = 0.1, []
  for _ in range(1500):
    weight = min(1.0, weight + 1.0 / warmup)  # before every step
    texar.append(weight)
  steps = np.arange(1500)
  got = schedules.linear(steps + 1, 0.9 * warmup, start=0.1).numpy()
  np.testing.assert_allclose(got, texar, rtol=1e-5)


@pytest.mark.slow
def test_sentence_example_runs_small():
  import os  # pylint: disable=import-outside-toplevel
  import subprocess  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(os.environ, PYTHONPATH=root)
  out = subprocess.run(
      [sys.executable, os.path.join(root, "docs", "examples",
                                    "sentence_vae.py"),
       "--steps=12", "--vocab_size=300", "--max_length=15", "--units=16",
       "--embedding_dim=8", "--latent_dim=4", "--iw_samples=2"],
      capture_output=True, text=True, timeout=600, cwd=root, env=env)
  assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
  assert "dropout: 12 steps" in out.stdout
  assert "perplexity" in out.stdout and "AU " in out.stdout
  for line in ("input:", "reconstruction:", "greedy sample:"):
    assert line in out.stdout


def test_iwae_chunks_count_the_logits_per_token():
  """The IWAE estimate sizes its chunks by B x T x V decoder outputs."""
  model = make_model()
  model.build((None, T))
  per_sample = len(X) * T * V
  assert diagnostics._samples_per_chunk(model, X, 10**6) == (  # pylint: disable=protected-access
      diagnostics.IWAE_MAX_ELEMENTS // per_sample)


def test_keras_file_round_trip_continues_training(tmp_path):
  vae = make_model(word_dropout=0.25, balancer=tfvae.balancers.Sigmoid(
      0.0, k=0.05, x0=20))
  vae.compile(optimizer="adam", steps_per_execution=1)
  vae.fit(X, batch_size=16, epochs=1, verbose=0)
  path = str(tmp_path / "sentence.keras")
  vae.save(path)
  loaded = keras.models.load_model(path)
  assert isinstance(loaded, tfvae.SequenceVAE)
  assert loaded.word_dropout == 0.25 and loaded.pad_id == PAD
  assert int(loaded.optimizer.iterations.numpy()) == 3
  for a, b in zip(vae.weights, loaded.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  x = tf.constant(X[:16])
  vae.eval_seed = loaded.eval_seed = tf.constant([3, 4], tf.int64)
  np.testing.assert_allclose(
      loaded.compute_terms(x, training=False)["distortion"].numpy(),
      vae.compute_terms(x, training=False)["distortion"].numpy(), rtol=1e-5)
  after_a = vae.train_on_batch(x, return_dict=True)["loss"]
  after_b = loaded.train_on_batch(x, return_dict=True)["loss"]
  np.testing.assert_allclose(float(after_b), float(after_a), rtol=1e-5)
