"""Evaluation: IWAE vs ELBO, active units and I(x;z), evaluate.py, traversals.

A digits run is trained once (a Gaussian with fixed sigma = 0.1, so the
posteriors carry ~15 nats and the bound has room to tighten); a tiny dsprites
run checks the disentanglement metrics end to end with small sample sizes.
"""

import glob
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf
from scipy import special
from scipy import stats

from conftest import run_forked
from conftest import run_script
from tfvae import evaluation
from tfvae.config import ExperimentConfig
from tfvae.data import datasets
from tfvae.data import pipeline
from tfvae.metrics import diagnostics
from tfvae.objectives import seeds
from tfvae.metrics import traversals
from tfvae.training import trainer

DIGITS_STEPS = 300


def quiet(*_):
  pass


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
  logdir = str(tmp_path_factory.mktemp("eval") / "digits")
  config = ExperimentConfig.from_flat(
      dataset="digits", likelihood="gaussian", sigma="0.1", latent_dim=6,
      hidden_units=128, steps=DIGITS_STEPS, eval_every=DIGITS_STEPS,
      logdir=logdir, verbose=0, seed=3).validate()
  final = trainer.train(config, print_fn=quiet)
  data = datasets.load_data(config)
  run = evaluation.load_run(logdir, data.image_shape)
  return {"logdir": logdir, "final": final, "data": data, "run": run}


def validation_ds(data):
  return pipeline.eval_dataset(data.validation, data.scale, 256)


def test_restored_model_reproduces_the_runs_final_metrics(digits_run):
  result, _, _ = diagnostics.evaluate(digits_run["run"].model,
                                      validation_ds(digits_run["data"]),
                                      seed=0)
  final = digits_run["final"]
  assert digits_run["run"].step == DIGITS_STEPS
  # The rate is a closed form of the encoder: equal iff the weights are.
  np.testing.assert_allclose(result["rate"], final["rate"], rtol=1e-5)
  np.testing.assert_allclose(result["kl_per_dim"], final["kl_per_dim"],
                             rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("settings", [
    {"seed": 4},
    {"seed": (5, 9), "iw_samples": 20, "distortion_samples": 4},
])
def test_compiled_evaluation_equals_the_eager_one(digits_run, settings):
  model = digits_run["run"].model
  # Batches of 64: a smaller last batch, so two shapes are traced.
  ds = pipeline.eval_dataset(digits_run["data"].validation,
                             digits_run["data"].scale, 64)
  eager, eager_means, _ = diagnostics.evaluate(model, ds, compiled=False,
                                               **settings)
  key = (settings.get("iw_samples", 0), settings.get("distortion_samples", 1))
  traces = []
  for _ in range(2):
    compiled, means, _ = diagnostics.evaluate(model, ds, **settings)
    assert sorted(compiled) == sorted(eager)
    for name, value in eager.items():
      np.testing.assert_allclose(compiled[name], value, rtol=1e-5,
                                 err_msg=name)
    np.testing.assert_allclose(means, eager_means, rtol=1e-5)
    function = diagnostics._COMPILED_BATCH_TERMS[model][key]  # pylint: disable=protected-access
    traces.append(function.experimental_get_tracing_count())
  # Compiled once per model, setting and batch shape: the second evaluation
  # (other seeds would do the same) traced nothing.
  assert traces[0] == traces[1]


def test_compiled_seed_folds_equal_the_eager_ones():
  for seed in (0, 7, (3, 5)):
    for path in ((1,), (1, 0), (4, 512), (123456, 3, 9), (2**31 + 5, 2)):
      expected = seeds._fold_eagerly(seeds.root(seed), list(path))  # pylint: disable=protected-access
      got = seeds.fold(seed, *path)
      assert got.dtype == tf.int64
      np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_iwae_bound_is_above_the_elbo_and_tightens_with_k(digits_run):
  model = digits_run["run"].model
  ds = validation_ds(digits_run["data"])
  neg_elbo = diagnostics.evaluate(model, ds, seed=1)[0]["neg_elbo"]
  nll = {}
  for k in (1, 10, 100, 1000):
    tf.random.set_seed(2)
    nll[k] = float(np.mean(np.concatenate(
        [-diagnostics.iwae_log_likelihood(model, x, k).numpy() for x in ds])))
  # k = 1 is the ELBO itself (up to Monte Carlo noise of one sample)...
  assert abs(nll[1] - neg_elbo) < 1.0, (nll, neg_elbo)
  # ...and the bound log p(x) >= IWAE_k >= ELBO rises with k: -log p falls.
  assert nll[10] < neg_elbo - 1.0
  assert nll[1000] < nll[100] < nll[10] < nll[1], nll


def test_iwae_chunking_does_not_change_the_estimate(digits_run):
  model = digits_run["run"].model
  x = tf.constant(digits_run["data"].validation[:20].astype(np.float32) *
                  digits_run["data"].scale)
  tf.random.set_seed(5)
  whole = diagnostics.iwae_log_likelihood(model, x, 60, chunk=60).numpy()
  tf.random.set_seed(5)
  pieces = diagnostics.log_importance_weights(model, x, 60).numpy()
  direct = special.logsumexp(pieces, axis=0) - math.log(60)
  np.testing.assert_allclose(whole, direct, rtol=1e-5)
  chunked = diagnostics.iwae_log_likelihood(model, x, 60, chunk=7).numpy()
  assert np.all(np.isfinite(chunked)) and chunked.shape == (20,)
  # Independent draws, same expectation: close on 20 examples.
  assert abs(np.mean(chunked) - np.mean(whole)) < 1.0


def test_active_units_as_defined(digits_run):
  model = digits_run["run"].model
  data = digits_run["data"]
  result, z_means, _ = diagnostics.evaluate(model, validation_ds(data), seed=0)
  x = data.validation.astype(np.float32) * data.scale
  mu = model.encode(x)[0].numpy().astype(np.float64)
  variance = mu.var(axis=0)  # Var_x(E_q[z_u | x]) (Burda et al. 2016)
  np.testing.assert_allclose(z_means, mu, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(result["z_mean_variance"], variance, rtol=1e-4)
  assert result["active_units"] == int(np.sum(variance > 0.01))


def numpy_mutual_information(z, mean, log_var):
  """mean_{s,i} [log q(z_si|x_i) - log (1/B sum_j q(z_si|x_j))], with scipy."""
  samples, batch, _ = z.shape
  total = 0.0
  for s in range(samples):
    for i in range(batch):
      log_q = np.array([stats.norm.logpdf(z[s, i], mean[j],
                                          np.exp(0.5 * log_var[j])).sum()
                        for j in range(batch)])
      total += log_q[i] - (special.logsumexp(log_q) - math.log(batch))
  return total / (samples * batch)


def test_mutual_information_as_defined():
  rng = np.random.RandomState(0)
  mean = rng.normal(size=(12, 3))
  log_var = rng.normal(scale=0.5, size=(12, 3)) - 1.0
  z = mean[None] + np.exp(0.5 * log_var)[None] * rng.normal(size=(4, 12, 3))
  got = diagnostics.mutual_information_from_samples(z, mean, log_var)
  np.testing.assert_allclose(got, numpy_mutual_information(z, mean, log_var),
                             rtol=1e-4)


def test_mutual_information_limits():
  # Identical posteriors carry no information: exactly 0.
  same = np.zeros((64, 4))
  assert abs(diagnostics.mutual_information(same, same, seed=1)) < 1e-6
  # Far-apart, narrow posteriors identify the example: the log B ceiling.
  mean = np.arange(64)[:, None] * np.ones((1, 4)) * 10.0
  mi = diagnostics.mutual_information(mean, np.full((64, 4), -4.0), seed=1)
  np.testing.assert_allclose(mi, math.log(64), atol=1e-4)


def test_mutual_information_is_at_most_the_rate(digits_run):
  result, _, _ = diagnostics.evaluate(digits_run["run"].model,
                                      validation_ds(digits_run["data"]),
                                      seed=0)
  # I(x;z) <= R (Alemi et al. 2018); the estimate is also capped at log B.
  assert 0 < result["mutual_information"] <= min(
      result["rate"], math.log(result["mutual_information_batch"])) + 1e-3


class FixedPosteriorModel:
  """Encoder outputs fixed per example; used to check the collapse rule."""

  latent_dim = 3
  num_features = 4

  def __init__(self, mean, log_var):
    self.mean = tf.constant(mean, tf.float32)
    self.log_var = tf.constant(log_var, tf.float32)

  def compute_terms(self, x, training=False):
    n = x.shape[0]
    mean, log_var = self.mean[:n], self.log_var[:n]
    kl = -0.5 * (1 + log_var - mean**2 - tf.exp(log_var))
    zeros = tf.zeros([n])
    return {"loss": 0.0, "distortion": zeros, "rate": tf.reduce_sum(kl, 1),
            "kl_per_dim": kl, "z_mean": mean, "z_log_variance": log_var}


def test_collapse_is_kl_below_eps_for_nearly_all_examples():
  n = 200
  mean = np.zeros((n, 3), np.float32)
  mean[:, 1] = 0.5  # KL 0.125 everywhere: not collapsed.
  mean[:1, 2] = 1.0  # One example in 200 (0.5%) above eps: still collapsed.
  mean[:3, 0] = 1.0  # Three in 200 (1.5%) above eps: not collapsed.
  model = FixedPosteriorModel(mean, np.zeros((n, 3), np.float32))
  ds = tf.data.Dataset.from_tensor_slices(np.zeros((n, 2, 2, 1),
                                                   np.float32)).batch(n)
  result, _, _ = diagnostics.evaluate(model, ds)
  assert result["collapsed_dims"] == [2]
  message = evaluation.collapse_warning(result["collapsed_dims"], 3)
  assert "dimension(s) 2 of 3" in message
  assert evaluation.collapse_warning([], 3) is None
  assert "all 3" in evaluation.collapse_warning([0, 1, 2], 3)


def test_traversal_layout_and_order():
  kl = [0.1, 3.0, 0.0, 1.0]
  assert traversals.dimension_order(kl) == [1, 3, 0, 2]
  z_mean = np.arange(8, dtype=np.float32).reshape(2, 4)
  codes = traversals.traversal_latents(z_mean, [1, 3], [-3.0, 0.0, 3.0])
  assert codes.shape == (2, 2, 3, 4)
  np.testing.assert_array_equal(codes[1, 0, :, 1], [-3.0, 0.0, 3.0])
  np.testing.assert_array_equal(codes[1, 0, :, [0, 2, 3]],
                                np.tile([[4.0], [6.0], [7.0]], (1, 3)))

  def decode_first_coordinate(z):
    # A decoder whose image is z_0 everywhere: only dimension 0 changes it.
    value = (tf.convert_to_tensor(z)[:, 0] + 3.0) / 6.0
    return tf.tile(value[:, None, None, None], [1, 8, 8, 1])

  grids, dims = traversals.latent_traversals(
      decode_first_coordinate, np.zeros((1, 2), np.float32), [1.0, 2.0])
  assert dims == [1, 0]
  # 8x8 tiles are enlarged 4x; 7 columns and 2 rows with 1-pixel gaps.
  assert grids.shape == (1, 2 * 32 + 1, 7 * 32 + 6, 1)
  row_dim1, row_dim0 = grids[0, 5, ::33, 0], grids[0, 38, ::33, 0]
  np.testing.assert_allclose(row_dim1, 0.5)  # z_0 stays at the mean 0.
  np.testing.assert_allclose(row_dim0, np.linspace(0, 1, 7), atol=1e-6)


def event_tags(directory):
  tags = set()
  for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(value.tag for value in event.summary.value)
  return tags


def test_evaluate_script_writes_table_json_and_tensorboard(digits_run,
                                                           tmp_path):
  out = tmp_path / "eval.json"
  proc = run_script("evaluate.py", f"--logdir={digits_run['logdir']}",
                    "--iw_samples=50", f"--output_json={out}")
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "IWAE NLL, k=50" in proc.stdout and "active units" in proc.stdout
  result = json.loads(out.read_text())
  for key in ("neg_elbo", "bits_per_dim", "rate", "distortion", "iwae_nll",
              "iwae_bits_per_dim", "iw_samples", "kl_per_dim", "active_units",
              "mutual_information", "collapsed_dims", "collapse_warning",
              "beta_eff", "beta_norm", "kl_weight", "step", "num_examples"):
    assert key in result, key
  assert result["iw_samples"] == 50 and result["step"] == DIGITS_STEPS
  assert result["iwae_nll"] < result["neg_elbo"]
  np.testing.assert_allclose(result["rate"], digits_run["final"]["rate"],
                             rtol=1e-5)
  assert "disentanglement" not in result  # digits has no factors.
  tags = event_tags(os.path.join(digits_run["logdir"], "evaluation"))
  assert {"iwae_nll", "rate", "latent_traversals",
          "inputs_top_reconstructions_bottom"} <= tags
  # Training wrote traversals too (PeriodicEvaluation.write_images).
  assert "latent_traversals" in event_tags(
      os.path.join(digits_run["logdir"], "validation"))


@pytest.mark.parametrize("args,message", [
    (["--logdir=/nonexistent/run"], "no such directory"),
    ([], "give one of --logdir"),
    (["--logdir={run}", "--metrics=mig"], "ground-truth factors"),
    (["--logdir={run}", "--metrics=nope"], "unknown metric"),
    (["--logdir={run}", "--iw_samples=-1"], "--iw_samples"),
    (["--logdir={run}", "--metric_num_train=0"], "num_train"),
    (["--saved_model=/nonexistent"], "--output_json"),
])
def test_evaluate_bad_input_is_one_line_and_exit_two(digits_run, args,
                                                     message):
  args = [a.format(run=digits_run["logdir"]) for a in args]
  # The first case in a fresh interpreter, the others forked after the
  # imports (the same program, checks and exit status).
  run = run_script if message == "no such directory" else run_forked
  proc = run("evaluate.py", *args)
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = [l for l in proc.stderr.splitlines() if l.startswith("evaluate.py:")]
  assert len(lines) == 1 and message in lines[0], proc.stderr[-2000:]


def test_saved_model_evaluation_matches_the_checkpoint(digits_run, tmp_path):
  from tfvae.export import saved_model  # pylint: disable=import-outside-toplevel
  run = digits_run["run"]
  path = saved_model.export(run.model, run.config, str(tmp_path / "export"),
                            uint8_scale=digits_run["data"].scale)
  adapter = evaluation.SavedModelAdapter(str(tmp_path / "export"))
  assert adapter.path == path
  x = tf.constant(digits_run["data"].validation[:16].astype(np.float32) *
                  digits_run["data"].scale)
  z = tf.random.normal([16, run.model.latent_dim], seed=4)
  np.testing.assert_allclose(adapter.log_likelihood(x, z).numpy(),
                             run.model.log_likelihood(x, z).numpy(),
                             rtol=1e-4)
  kwargs = {"iw_samples": 20, "seed": 7, "tensorboard_dir": None}
  from_export = evaluation.evaluate_saved_model(path, **kwargs)
  from_checkpoint = evaluation.evaluate_run(digits_run["logdir"], **kwargs)
  for key in ("rate", "neg_elbo", "iwae_nll", "active_units"):
    np.testing.assert_allclose(from_export[key], from_checkpoint[key],
                               rtol=1e-4, err_msg=key)
  assert "loss" not in from_export and "beta_eff" not in from_export


def test_tiny_dsprites_run_scores_every_metric_in_unit_interval(tmp_path):
  logdir = str(tmp_path / "dsprites")
  config = ExperimentConfig.from_flat(
      dataset="dsprites", architecture="conv", likelihood="bernoulli",
      latent_dim=4, max_examples=600, batch_size=32, steps=20, eval_every=20,
      logdir=logdir, verbose=0).validate()
  trainer.train(config, print_fn=quiet)
  sizes = evaluation.MetricSizes(num_train=200, num_eval=100,
                                 num_variance_estimate=200, group_size=8,
                                 batch_size=50, dci_n_estimators=5)
  result = evaluation.evaluate_run(logdir, iw_samples=2, sizes=sizes,
                                   max_examples=40, tensorboard_dir=None)
  assert set(result["disentanglement"]) == set(evaluation.METRICS)
  for short, _ in evaluation.HEADLINE_METRICS:
    assert 0.0 <= result[short] <= 1.0, (short, result[short])
  assert result["metric_sizes"]["num_train"] == 200
  assert result["num_examples"] == 40
