"""Logged numbers equal an independent recomputation; training lowers -ELBO."""

import glob
import json
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import special
from scipy import stats

from tfvae.config import ExperimentConfig
from tfvae.data import datasets
from tfvae.data import pipeline
from tfvae.metrics import diagnostics
from tfvae.models.factory import build_model
from tfvae.training import trainer


def digits_batch(n=64):
  images, scale = datasets.load_digits()
  return images[:n].astype(np.float32) * scale


def numpy_softclip(t, m=-6.0):
  return m + np.logaddexp(0.0, t - m)


@pytest.mark.parametrize("rec_reduction,kl_reduction", [("sum", "sum"),
                                                        ("mean", "sum"),
                                                        ("mean", "mean")])
def test_logged_metrics_equal_manual_recomputation(rec_reduction, kl_reduction):
  x = digits_batch()
  config = ExperimentConfig.from_flat(
      latent_dim=4, hidden_units=32, likelihood="gaussian", sigma="learned",
      rec_reduction=rec_reduction, kl_reduction=kl_reduction,
      beta_norm=0.3).validate()
  model = build_model(config, x.shape[1:])
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  model.sample_noise = False  # z = mean, so the recomputation is exact.
  model.likelihood.raw_log_sigma.assign(-0.7)

  # Independent recomputation with numpy/scipy from the networks' outputs.
  mu, log_var = [t.numpy().astype(np.float64) for t in model.encoder(x)]
  logits = model.decoder(mu.astype(np.float32)).numpy().astype(np.float64)
  sigma = math.exp(numpy_softclip(-0.7))
  nll = -stats.norm.logpdf(x, loc=special.expit(logits), scale=sigma)
  kl = -0.5 * (1 + log_var - mu**2 - np.exp(log_var))
  k, j = x[0].size, 4
  distortion = nll.reshape(len(x), -1).sum(1)
  rate = kl.sum(1)
  k_r = k if rec_reduction == "mean" else 1
  j_r = j if kl_reduction == "mean" else 1
  beta_eff = 0.3 * k / j
  weight = beta_eff * j_r / k_r
  loss = np.mean(distortion / k_r + weight * rate / j_r)
  expected = {
      "loss": loss, "distortion": distortion.mean(), "rate": rate.mean(),
      "neg_elbo": (distortion + rate).mean(),
      "bits_per_dim": (distortion + rate).mean() / (k * math.log(2)),
      "kl_weight": weight, "beta_eff": beta_eff, "beta_norm": 0.3,
      "sigma": sigma,
  }
  # One step of fit: the progress-bar values are this batch's values.
  history = model.fit(x, batch_size=len(x), epochs=1, shuffle=False,
                      verbose=0).history
  for name, value in expected.items():
    assert history[name][0] == pytest.approx(value, rel=2e-5), name
    # TensorBoard's per-step source holds the same numbers.
    assert float(model.last_batch[name].numpy()) == pytest.approx(
        value, rel=2e-5), name


def test_reference_port_logs_nats_with_beta_one():
  x = digits_batch(32)
  config = ExperimentConfig.from_flat(
      model="reference", latent_dim=3, hidden_units=16).validate()
  model = build_model(config, x.shape[1:])
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  model.sample_noise = False
  mu, log_var = [t.numpy().astype(np.float64) for t in model.encoder(x)]
  y = special.expit(model.decoder(mu.astype(np.float32)).numpy())
  sse = ((y - x)**2).reshape(len(x), -1).sum(1)
  kl = (-0.5 * (1 + log_var - mu**2 - np.exp(log_var))).sum(1)
  history = model.fit(x, batch_size=len(x), epochs=1, shuffle=False,
                      verbose=0).history
  assert history["loss"][0] == pytest.approx(np.mean(sse + kl), rel=2e-5)
  nats = sse + 0.5 * x[0].size * math.log(math.pi)
  assert history["distortion"][0] == pytest.approx(nats.mean(), rel=2e-5)
  assert history["beta_eff"][0] == 1.0


def test_evaluate_averages_exactly_over_examples():
  """Data-set means are per-example means, not means of batch means."""
  images, scale = datasets.load_digits()
  x = images[:70].astype(np.float32) * scale
  config = ExperimentConfig.from_flat(
      latent_dim=3, hidden_units=16, sigma="0.5").validate()
  model = build_model(config, x.shape[1:])
  model.sample_noise = False
  ds = tf.data.Dataset.from_tensor_slices(x).batch(32)  # 32 + 32 + 6
  result, z_means, _ = diagnostics.evaluate(model, ds)
  full = model.compute_terms(tf.constant(x))
  assert result["rate"] == pytest.approx(float(tf.reduce_mean(full["rate"])),
                                         rel=1e-5)
  assert result["distortion"] == pytest.approx(
      float(tf.reduce_mean(full["distortion"])), rel=1e-5)
  assert z_means.shape == (70, 3)
  variances = np.var(full["z_mean"].numpy(), axis=0)
  assert result["active_units"] == int(np.sum(variances > 0.01))


def read_scalars(directory):
  """{tag: [(step, value), ...]} from TensorBoard event files."""
  from tensorboard.backend.event_processing import event_accumulator
  acc = event_accumulator.EventAccumulator(
      directory, size_guidance={event_accumulator.TENSORS: 0})
  acc.Reload()
  out = {}
  for tag in acc.Tags()["tensors"]:
    events = acc.Tensors(tag)
    try:
      out[tag] = [(e.step, float(tf.make_ndarray(e.tensor_proto)))
                  for e in events]
    except (TypeError, ValueError):
      continue
  return out


def test_short_training_run_lowers_neg_elbo_and_logs_everything(tmp_path):
  logdir = str(tmp_path / "run")
  config = ExperimentConfig.from_flat(
      steps=300, eval_every=150, checkpoint_every=150, logdir=logdir,
      latent_dim=4, hidden_units=64, sigma="optimal", verbose=0).validate()
  data = datasets.load_data(config)
  untrained = build_model(config, data.image_shape)
  before, _, _ = diagnostics.evaluate(
      untrained, pipeline.eval_dataset(data.validation, data.scale, 256))
  final = trainer.train(config, print_fn=lambda *_: None)
  assert final["neg_elbo"] < before["neg_elbo"] - 20
  assert final["step"] == 300
  with open(os.path.join(logdir, "final_metrics.json")) as f:
    saved = json.load(f)
  for key in ("neg_elbo", "bits_per_dim", "rate", "distortion", "beta_eff",
              "beta_norm", "active_units", "kl_per_dim", "sigma"):
    assert key in saved
  assert saved["neg_elbo"] == pytest.approx(saved["rate"] +
                                            saved["distortion"], rel=1e-6)
  assert saved["bits_per_dim"] == pytest.approx(
      saved["neg_elbo"] / (64 * math.log(2)), rel=1e-6)

  train = read_scalars(os.path.join(logdir, "train"))
  steps = [s for s, _ in train["neg_elbo"]]
  assert steps == list(range(1, 301))
  for name in ("loss", "rate", "distortion", "kl_weight", "beta_eff",
               "beta_norm", "sigma", "bits_per_dim"):
    assert len(train[name]) == 300, name
  validation = read_scalars(os.path.join(logdir, "validation"))
  assert [s for s, _ in validation["neg_elbo"]] == [150, 300]
  # The final metrics are the last evaluation, logged once.
  assert validation["neg_elbo"][-1][1] == pytest.approx(saved["neg_elbo"],
                                                        rel=1e-5)
  assert glob.glob(os.path.join(logdir, "validation", "events.out.*"))
