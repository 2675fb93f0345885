"""tfvae.conventions: every reader against a hand-derived value from the peer's
documented loss, the references' formulas, round trips and bad input.

Notation: K features, J latents, SSE = summed squared error, KL_sum the
analytic KL summed over J. A Gaussian NLL with variance s2 is
SSE / (2 s2) + (K/2) log(2 pi s2), so c * SSE is a Gaussian with s2 = 1/(2c).
"""

import dataclasses
import itertools
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from tfvae import conventions
from tfvae.conventions import Convention
from tfvae.conventions import disent
from tfvae.conventions import disentanglement_lib
from tfvae.conventions import flagfile
from tfvae.conventions import keras_example
from tfvae.conventions import native
from tfvae.conventions import pythae
from tfvae.conventions import pytorch_vae
from tfvae.conventions import question
from tfvae.conventions import rundir
from tfvae.conventions import tfp_layers
from tfvae.errors import ConfigError
from tfvae.objectives import weighting

FLAGS_DIR = os.path.join(ROOT, "scripts", "flags")


def close(a, b, rel=1e-12):
  return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


def gaussian_nll_sum(x, y, sigma2):
  """-sum log N(x; y, sigma2), written out independently of tfvae."""
  return float(np.sum(0.5 * (x - y)**2 / sigma2 +
                      0.5 * np.log(2 * np.pi * sigma2)))


# ---------------------------------------------------- references §1 formulas


def test_sse_is_the_gaussian_nll_with_sigma2_one_half_minus_a_constant():
  rng = np.random.default_rng(0)
  x, y = rng.uniform(size=(2, 64))
  k = x.size
  sse = float(np.sum((x - y)**2))
  # references §1: SSE = -log N(x; y, 1/2) - (K/2) log(pi).
  assert close(sse, gaussian_nll_sum(x, y, 0.5) - k / 2 * math.log(math.pi))
  c = question.read(reconstruction_loss="l2", input_shape=(8, 8, 1),
                    latent_dim=8)
  assert c.sigma2 == 0.5 and c.beta_eff == 1.0 and c.beta_l2 == 1.0


def test_pythae_half_sse_is_the_unit_variance_gaussian_nll_minus_a_constant():
  rng = np.random.default_rng(1)
  x, y = rng.uniform(size=(2, 100))
  half_sse = 0.5 * float(np.sum((x - y)**2))
  assert close(half_sse,
               gaussian_nll_sum(x, y, 1.0) - 50 * math.log(2 * math.pi))
  assert weighting.sigma2_from_squared_error_factor(0.5) == 1.0
  assert weighting.sigma2_from_squared_error_factor(1.0) == 0.5
  assert weighting.squared_error_factor_from_sigma2(0.125) == 4.0
  assert weighting.beta_eff_from_beta_l2(
      weighting.beta_l2_from_beta_eff(3.0, 0.2), 0.2) == pytest.approx(3.0)


def test_beta_norm_is_beta_j_over_k_dsprites():
  # references §1: dSprites K = 4096, J = 10, beta = 4 -> beta_norm ~ 0.0098.
  c = conventions.read("tfvae", beta=4, reconstruction_loss="bernoulli",
                       input_shape="64,64,1", latent_dim=10)
  assert c.beta_norm == 4 * 10 / 4096
  assert round(c.beta_norm, 4) == 0.0098


def test_mean_mean_weight_is_exactly_beta_norm():
  # rec_mean + w kl_mean = (1/K) (rec_sum + (w K / J) kl_sum): beta_eff = wK/J,
  # beta_norm = beta_eff J / K = w.
  for shape, j in (((8, 8, 1), 8), ((64, 64, 1), 10), ((32, 32, 3), 5)):
    c = question.read(beta=0.1, reconstruction_loss="bce",
                      rec_reduction="mean", kl_reduction="mean",
                      input_shape=shape, latent_dim=j)
    k = math.prod(shape)
    assert close(c.beta_eff, 0.1 * k / j)
    assert close(c.beta_norm, 0.1)


def test_fixed_sigma_weight_one_is_sse_with_weight_two_sigma2():
  # references §1: a Gaussian with fixed sigma and weight 1 = SSE + 2 s2 KL.
  c = native.read(beta=1.0, reconstruction_loss="gaussian", sigma=0.3,
                  input_shape=(8, 8, 1), latent_dim=8)
  assert close(c.beta_l2, 2 * 0.09)
  assert c.sigma2 == pytest.approx(0.09)


# ------------------------------------------------------------------ readers


def test_pythae_mse():
  # pythae 0.1.2 mse, beta = 4, 64x64x1, J = 10:
  # loss = 0.5 SSE + 4 KL = (NLL_{sigma=1} + 4 KL) + c, so beta_eff = 4 (in the
  # sigma^2 = 1 Gaussian), beta_l2 = 8 (SSE + 8 KL), beta_norm = 4*10/4096.
  c = pythae.read(beta=4, reconstruction_loss="mse", input_shape=(1, 64, 64),
                  latent_dim=10)
  assert (c.beta_eff, c.beta_l2, c.sigma2) == (4.0, 8.0, 1.0)
  assert c.beta_norm == 4 * 10 / 4096
  flags = c.tfvae_flags()
  assert flags["likelihood"] == "gaussian" and flags["sigma"] == "1"
  assert flags["beta"] == "4" and flags["rec_reduction"] == "sum"


def test_pythae_bce_and_config_file(tmp_path):
  # bce: loss = BCE_sum + beta KL_sum = Bernoulli NLL + beta KL: beta_eff = beta.
  path = tmp_path / "model_config.json"
  path.write_text(json.dumps({
      "name": "BetaVAEConfig", "input_dim": [1, 28, 28], "latent_dim": 16,
      "reconstruction_loss": "bce", "beta": 2.5}))
  c = pythae.read_config(str(path))
  assert c.beta_eff == 2.5 and c.sigma2 is None and c.beta_l2 is None
  assert c.beta_norm == 2.5 * 16 / 784
  assert c.tfvae_flags()["likelihood"] == "bernoulli"
  assert "sigma" not in c.tfvae_flags()
  path.write_text(json.dumps({"name": "FactorVAEConfig", "input_dim": [1]}))
  with pytest.raises(ConfigError, match="FactorVAEConfig"):
    pythae.read_config(str(path))


def test_disentanglement_lib_beta_vae():
  # l2_loss = SSE (no 0.5): loss = SSE + beta KL_sum, the question's L2/sum
  # units, so beta_l2 = beta = 4; as a sigma^2 = 1/2 Gaussian beta_eff = 4.
  c = disentanglement_lib.read(beta=4, reconstruction_loss="l2",
                               input_shape=(64, 64, 1), latent_dim=10)
  assert (c.beta_l2, c.beta_eff, c.sigma2) == (4.0, 4.0, 0.5)
  assert c.tfvae_flags()["sigma"] == repr(math.sqrt(0.5))
  # bernoulli_loss = summed sigmoid CE: beta_eff = beta = 16.
  c = disentanglement_lib.read(beta=16, input_shape=(64, 64, 1),
                               latent_dim=10)
  assert c.beta_eff == 16 and c.family == "bernoulli"


def test_disentanglement_lib_annealed_vae_from_gin(tmp_path):
  # AnnealedVAE: SSE or BCE_sum + gamma |KL_sum - C|; gamma 1000, C_max 25,
  # 100000 steps (references §3) -> tfvae's capacity with the same numbers.
  (tmp_path / "shared.gin").write_text(
      '# shared bindings\nencoder.num_latent = 10\n'
      'dataset.name = "dsprites_full"\n'
      'reconstruction_loss.loss_fn = @bernoulli_loss\n'
      'vae/AdamOptimizer.beta1 = 0.9\n')
  (tmp_path / "model.gin").write_text(
      "include 'shared.gin'\nmodel.model = @annealed_vae()\n"
      "annealed_vae.gamma = 1000.\nannealed_vae.c_max = 25.\n"
      "annealed_vae.iteration_threshold = 100000\n")
  c = conventions.read(f"gin:{tmp_path / 'model.gin'}")
  assert c.event_shape == (64, 64, 1) and c.latent_dim == 10
  assert c.weight == 1000.0 and c.capacity.c_max == 25.0
  assert c.capacity.steps == 100000
  flags = c.tfvae_flags()
  assert flags["balancer"] == "capacity" and flags["capacity_gamma"] == "1000"
  assert flags["capacity_max"] == "25" and flags["capacity_steps"] == "100000"
  assert "beta" not in flags
  # Only capacity objectives are its equivalents: tfvae's capacity, gamma 1000.
  rows = {r.label: r.convention for r in conventions.equivalents(c)}
  assert set(rows) == {"disentanglement_lib annealed_vae, bernoulli",
                       "tfvae, bernoulli, sum/sum"}
  tfvae_row = rows["tfvae, bernoulli, sum/sum"]
  assert tfvae_row.weight == 1000.0 and tfvae_row.capacity == c.capacity


def test_disentanglement_lib_gin_beta_vae_and_errors(tmp_path):
  gin = tmp_path / "beta.gin"
  gin.write_text("model.model = @vae()\nvae.beta = 4.\nencoder.num_latent = 10"
                 "\nreconstruction_loss.loss_fn = @l2_loss\n"
                 "dataset.name = 'color_dsprites'\n")
  c = disentanglement_lib.read_gin(str(gin))
  assert c.event_shape == (64, 64, 3) and c.beta_l2 == 4.0
  gin.write_text("model.model = @factor_vae()\nfactor_vae.gamma = 10.\n")
  with pytest.raises(ConfigError, match="factor_vae"):
    disentanglement_lib.read_gin(str(gin))
  gin.write_text("model.model = @vae()\nencoder.num_latent = 10\n"
                 "reconstruction_loss.loss_fn = @l2_loss\n"
                 "dataset.name = 'dsprites_full'\n")
  with pytest.raises(ConfigError, match="vae.beta"):
    disentanglement_lib.read_gin(str(gin))


def test_disent_mean_reduction_default_beta():
  # disent 'mean': loss = MSE + beta KL_mean = SSE/K + beta KL_sum/J
  #   ~ SSE + (beta K / J) KL_sum. Its own example: 64x64x3, z 9, beta 0.003:
  #   beta_l2 = 0.003 * 12288 / 9 = 4.096 ("approximately mean_sum beta 4"),
  #   sigma^2 = 1/2 so beta_eff = 4.096, beta_norm = 4.096 * 9 / 12288 = 0.003.
  c = disent.read(input_shape=(64, 64, 3), latent_dim=9)
  assert close(c.beta_l2, 4.096) and close(c.beta_eff, 4.096)
  assert close(c.beta_norm, 0.003)
  assert c.tfvae_flags()["rec_reduction"] == "mean"
  # 'mean_sum' bce beta 4: BCE_sum + 4 KL_sum: beta_eff = 4.
  c = disent.read(beta=4, reconstruction_loss="bce", loss_reduction="mean_sum",
                  input_shape=(64, 64, 1), latent_dim=10)
  assert c.beta_eff == 4.0
  # 'sum' scales both terms by the batch size: the same objective.
  assert disent.read(beta=4, reconstruction_loss="bce", loss_reduction="sum",
                     input_shape=(64, 64, 1), latent_dim=10).beta_eff == 4.0
  # mse4 = 4 SSE: sigma^2 = 1/8; 'normal' = N(y, 1): sigma^2 = 1.
  c = disent.read(beta=1, reconstruction_loss="mse4",
                  loss_reduction="mean_sum", input_shape=(8, 8, 1),
                  latent_dim=2)
  assert c.sigma2 == 0.125 and c.beta_l2 == 0.25
  c = disent.read(beta=1, reconstruction_loss="normal",
                  loss_reduction="mean_sum", input_shape=(8, 8, 1),
                  latent_dim=2)
  assert c.sigma2 == 1.0 and c.beta_l2 == 2.0


def test_keras_example():
  # rec = mean_B sum_{H,W} mean_C BCE; kl = mean_B KL_sum; loss = rec + kl.
  # MNIST 28x28x1, latent 2: C = 1, so BCE_sum + KL_sum: beta_eff = 1,
  # beta_norm = 2 / 784.
  c = keras_example.read()
  assert c.beta_eff == 1.0 and c.beta_norm == 2 / 784
  # With 3 channels rec = BCE_sum / 3: loss ~ BCE_sum + 3 KL_sum.
  c = keras_example.read(input_shape=(32, 32, 3), latent_dim=4)
  assert c.beta_eff == 3.0
  assert c.tfvae_flags()["beta"] == "3"


def test_keras_binary_crossentropy_averages_the_last_axis():
  # The reader's 1/C rests on this: keras.losses.binary_crossentropy reduces
  # the last axis by a mean.
  keras = pytest.importorskip("keras")
  rng = np.random.default_rng(0)
  x = rng.integers(0, 2, size=(2, 4, 4, 3)).astype("float32")
  p = rng.uniform(0.05, 0.95, size=(2, 4, 4, 3)).astype("float32")
  bce = -(x * np.log(p) + (1 - x) * np.log(1 - p))
  got = np.asarray(keras.losses.binary_crossentropy(x, p))
  np.testing.assert_allclose(got, bce.mean(axis=-1), rtol=1e-4)


def test_tfp_layers_reader():
  # The example: KLDivergenceRegularizer(prior) (weight 1) + the summed
  # Bernoulli NLL, both averaged over the batch, the KL counted twice:
  # beta_eff 2.
  c = tfp_layers.read()
  assert c.beta_eff == 2.0 and c.beta_norm == 2 * 16 / 784
  assert c.decoder_likelihood == "bernoulli"
  # KLDivergenceAddLoss's batch total is not divided by B = 32.
  c = tfp_layers.read(beta=0.5, layer="add_loss", batch_size=32,
                      input_shape=(8, 8, 1), latent_dim=4)
  assert c.beta_eff == 16.0 and c.tfvae_flags()["beta"] == "16"
  with pytest.raises(ConfigError, match="needs batch_size"):
    tfp_layers.read(layer="add_loss")
  with pytest.raises(ConfigError, match="does not apply"):
    tfp_layers.read(batch_size=32)
  with pytest.raises(ConfigError, match="layer"):
    conventions.read("tfp_layers", layer="kl")


@pytest.mark.parametrize("layer", ["regularizer", "add_loss"])
def test_tfp_kl_layers_weight_in_tf_keras(layer):
  """What tf_keras adds to the training loss for each TFP KL layer equals the
  reader's beta_eff times the batch-mean KL (the loss `-log_prob` is
  batch-averaged by Keras): measured with `evaluate`, not assumed."""
  tf = pytest.importorskip("tensorflow")
  tfp = pytest.importorskip("tensorflow_probability")
  tfk = pytest.importorskip("tf_keras")
  tfd, tfpl = tfp.distributions, tfp.layers
  j, shape, batch, weight = 3, (2, 2, 1), 5, 0.7
  prior = tfd.MultivariateNormalDiag(loc=tf.zeros(j))
  x = tfk.Input(shape)
  params = tfk.layers.Dense(tfpl.MultivariateNormalTriL.params_size(j))(
      tfk.layers.Flatten()(x))
  if layer == "regularizer":
    q = tfpl.MultivariateNormalTriL(
        j, activity_regularizer=tfpl.KLDivergenceRegularizer(
            prior, weight=weight, use_exact_kl=True))(params)
  else:
    q = tfpl.KLDivergenceAddLoss(prior, weight=weight, use_exact_kl=True)(
        tfpl.MultivariateNormalTriL(j)(params))
  model = tfk.Model(x, q)
  data = np.random.default_rng(0).uniform(size=(batch,) + shape).astype(
      "float32")
  # A zero data loss: `evaluate` returns what the KL layer adds.
  model.compile(loss=lambda y, rv: 0.0 * tf.reduce_sum(rv.mean(), axis=-1))
  added = model.evaluate(data, np.zeros((batch, j), "float32"),
                         batch_size=batch, verbose=0)
  kl = tfd.kl_divergence(model(data), prior).numpy()  # [B], KL_sum each
  c = tfp_layers.read(beta=weight, layer=layer,
                      batch_size=batch if layer == "add_loss" else None,
                      input_shape=shape, latent_dim=j)
  assert math.isclose(added, c.beta_eff * kl.mean(), rel_tol=1e-5)


def test_pytorch_vae_reader_against_its_loss():
  """VanillaVAE's loss, written out in numpy: MSE over batch and features +
  w mean_B KL_sum, is (1 / K) mean_B(SSE + beta_l2 KL_sum)."""
  shape, j, m, n = (4, 4, 3), 5, 144, 162770
  rng = np.random.default_rng(1)
  x, y = rng.uniform(size=(2, 8) + shape)
  mu, log_var = rng.normal(size=(2, 8, j))
  kl = -0.5 * np.sum(1 + log_var - mu**2 - np.exp(log_var), axis=1)
  w = m / n
  loss = np.mean((y - x)**2) + w * np.mean(kl)
  c = pytorch_vae.read(batch_size=m, dataset_size=n, input_shape=shape,
                       latent_dim=j)
  k = 4 * 4 * 3
  sse = np.sum((y - x)**2, axis=(1, 2, 3))
  assert close(c.weight, w)
  assert close(loss * k, np.mean(sse + c.beta_l2 * kl), rel=1e-12)
  assert c.sigma2 == 0.5 and close(c.beta_eff, w * k)
  assert close(c.beta_norm, w * j)
  # configs/vae.yaml: 64x64x3, latent 128, batch 144 on CelebA's 162,770.
  c = conventions.read("pytorch_vae", batch_size=144, dataset_size=162770)
  assert round(c.beta_eff, 2) == 10.87
  assert close(pytorch_vae.read(beta=0.00025).beta_eff, 0.00025 * 12288)
  with pytest.raises(ConfigError, match="not both"):
    pytorch_vae.read(beta=0.1, batch_size=2, dataset_size=10)
  with pytest.raises(ConfigError, match="is required"):
    pytorch_vae.read()
  with pytest.raises(ConfigError, match="cannot exceed"):
    pytorch_vae.read(batch_size=20, dataset_size=10)


def test_question_reader():
  # Its code: SSE + KL_sum (w = 1): the sigma^2 = 1/2 Gaussian ELBO.
  c = question.read(input_shape=(8, 8, 1), latent_dim=8)
  assert (c.beta_eff, c.beta_l2, c.beta_norm) == (1.0, 1.0, 8 / 64)
  # Its "normalised" variant: MSE + 0.1 KL_mean on 8x8x1, J = 8:
  #   ~ SSE + (0.1 * 64 / 8) KL_sum: beta_l2 = 0.8, beta_norm = 0.1.
  c = question.read(beta=0.1, rec_reduction="mean", kl_reduction="mean",
                    input_shape=(8, 8, 1), latent_dim=8)
  assert close(c.beta_l2, 0.8) and close(c.beta_norm, 0.1)
  assert question.read(reconstruction_loss="mse", input_shape=(4,),
                       latent_dim=1).reconstruction == "squared_error"


def test_tfvae_reader():
  # NLL_mean + 2 KL_sum with sigma 0.5 on K = 64: ~ NLL_sum + 128 KL_sum:
  # beta_eff = 128, beta_l2 = 128 * 2 * 0.25 = 64.
  c = native.read(beta=2, sigma=0.5, rec_reduction="mean", kl_reduction="sum",
                  input_shape=(8, 8, 1), latent_dim=8)
  assert c.beta_eff == 128.0 and c.beta_l2 == 64.0
  learned = native.read(input_shape=(8, 8, 1), latent_dim=8)
  assert learned.sigma == "learned" and learned.beta_l2 is None
  assert learned.tfvae_flags()["sigma"] == "learned"


def test_tfvae_flagfile_readers():
  # question_mean_mean_0.1.flags: digits 8x8x1, J = 8, sigma^2 = 1/2,
  # mean/mean w = 0.1: beta_eff = 0.1 * 64 / 8 = 0.8, beta_norm = 0.1.
  c = conventions.read(
      f"flagfile:{os.path.join(FLAGS_DIR, 'question_mean_mean_0.1.flags')}")
  assert close(c.beta_eff, 0.8) and close(c.beta_norm, 0.1)
  assert close(c.sigma2, 0.5) and close(c.beta_l2, 0.8)
  # question_l2_sum.flags is --model=reference: SSE + KL_sum.
  c = flagfile.read(os.path.join(FLAGS_DIR, "question_l2_sum.flags"))
  assert c.reconstruction == "squared_error" and c.beta_l2 == 1.0
  with pytest.raises(ConfigError, match="during training"):
    flagfile.read(os.path.join(FLAGS_DIR, "geco.flags"))


def test_flagfile_includes_comments_and_overrides(tmp_path):
  # Includes default.flags (digits, J = 8), then sigma 0.5 and beta_norm 0.25:
  # beta_eff = 0.25 * 64 / 8 = 2, beta_l2 = 2 * 2 * 0.25 = 1.
  path = tmp_path / "mine.flags"
  path.write_text(f"# mine\n--flagfile={os.path.join(FLAGS_DIR, 'default.flags')}"
                  "\n--sigma=0.5\n--beta_norm=0.25\n--overwrite\n")
  c = flagfile.read(str(path))
  assert c.beta_eff == 2.0 and c.beta_l2 == 1.0
  path.write_text("--dataset=npz:x.npz\n--beta=2\n")
  with pytest.raises(ConfigError, match="input_shape"):
    flagfile.read(str(path))
  assert flagfile.read(str(path), input_shape="4,4").num_features == 16
  path.write_text("beta=2\n")
  with pytest.raises(ConfigError, match="not a --name=value"):
    flagfile.read(str(path))


def _write_run(logdir, config, image_shape=(8, 8, 1), final=None):
  os.makedirs(logdir)
  with open(os.path.join(logdir, "config.json"), "w") as f:
    json.dump(config, f)
  with open(os.path.join(logdir, "data.json"), "w") as f:
    json.dump({"image_shape": list(image_shape)}, f)
  if final is not None:
    with open(os.path.join(logdir, "final_metrics.json"), "w") as f:
      json.dump(final, f)


def test_run_directory_flat_and_nested(tmp_path):
  from tfvae.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
  flat = ExperimentConfig.from_flat(dict(sigma="learned", beta=3.0,
                                         latent_dim=4)).to_flat()
  # A learned sigma of 0.2 at the end: beta_l2 = 3 * 2 * 0.04 = 0.24.
  _write_run(str(tmp_path / "flat"), flat, final={"sigma": 0.2})
  c = rundir.read(str(tmp_path / "flat"))
  assert c.beta_eff == 3.0 and close(c.beta_l2, 0.24)
  assert c.tfvae_flags()["sigma"] == "0.2"
  nested = {"data": {"dataset": "digits"},
            "model": {"likelihood": "gaussian", "sigma": "learned",
                      "latent_dim": 4},
            "objective": {"rec": "sum", "kl": "sum", "beta": 3.0},
            "run": {"logdir": "x"}}
  _write_run(str(tmp_path / "nested"), nested, final={"sigma": 0.2})
  assert rundir.read(str(tmp_path / "nested")) == c
  with pytest.raises(ConfigError, match="config.json"):
    rundir.read(str(tmp_path))


def test_run_directory_with_a_balancer_uses_the_final_weight(tmp_path):
  from tfvae.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
  cfg = ExperimentConfig.from_flat(dict(
      likelihood="bernoulli", balancer="geco", geco_target=0.1)).to_dict()
  _write_run(str(tmp_path / "run"), cfg, final={"kl_weight": 0.37})
  c = rundir.read(str(tmp_path / "run"))
  assert c.weight == 0.37 and c.beta_eff == 0.37
  assert any("changes during training" in n for n in c.notes)


# -------------------------------------------------------------- round trips


def _all_templates(shape, j, sigma):
  out = []
  for module in conventions.PEERS.values():
    if module is native:
      out += native.targets(shape, j, sigma)
    else:
      out += module.targets(shape, j)
  return out


@pytest.mark.parametrize("shape,j", [((64, 64, 1), 10), ((8, 8, 1), 8),
                                     ((32, 32, 3), 7)])
def test_round_trip_between_every_pair_of_conventions(shape, j):
  templates = _all_templates(shape, j, sigma=0.3)
  pairs = 0
  for a, b in itertools.permutations(templates, 2):
    if a.family != b.family or (a.capacity is None) != (b.capacity is None):
      continue
    start = dataclasses.replace(a, weight=2.75)
    there = b.same_objective_as(start)
    back = a.same_objective_as(there)
    assert close(back.weight, 2.75, rel=1e-12), (a.describe(), b.describe())
    if a.family == "gaussian":
      assert close(there.beta_l2, start.beta_l2)
    else:
      assert close(there.beta_eff, start.beta_eff)
    pairs += 1
  assert pairs > 50


def test_equivalents_of_pythae_mse():
  # pythae beta 4 (beta_l2 8): dl l2 vae.beta = 8, question mean/mean
  # w = 8 J / K = 8 * 10 / 4096, pythae itself 4.
  c = pythae.read(beta=4, input_shape=(64, 64, 1), latent_dim=10)
  rows = {r.label: r for r in conventions.equivalents(c)}
  assert rows["disentanglement_lib beta_vae, l2"].convention.weight == 8.0
  assert close(rows["the question, l2, mean/mean"].convention.weight,
               8 * 10 / 4096)
  assert rows["pythae BetaVAE, reconstruction_loss=mse"].convention.weight == 4
  assert all(r.convention.family == "gaussian" for r in rows.values())


def test_no_equivalent_across_families_or_for_an_unknown_sigma():
  bce = pythae.read(beta=1, reconstruction_loss="bce", input_shape=(4,),
                    latent_dim=2)
  mse = pythae.read(beta=1, input_shape=(4,), latent_dim=2)
  with pytest.raises(ConfigError, match="bernoulli"):
    mse.same_objective_as(bce)
  learned = native.read(input_shape=(4,), latent_dim=2)
  rows = conventions.equivalents(learned)
  assert rows and all(r.convention is None and "fitted" in r.reason
                      for r in rows)


def test_optimal_sigma_convention():
  # sigma*^2 = 0.01 with beta_eff 1: SSE + 2 * 0.01 KL_sum.
  c = conventions.optimal_sigma_convention(0.01, (8, 8, 1), 8)
  assert close(c.beta_l2, 0.02) and c.beta_eff == 1.0
  with pytest.raises(ConfigError, match="sigma2"):
    conventions.optimal_sigma_convention(0.0, (8, 8, 1), 8)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs,match", [
    (dict(reconstruction="bce", sigma=1.0), "sigma applies"),
    (dict(reconstruction="squared_error", sigma=1.0), "implied by the factor"),
    (dict(reconstruction="nll", likelihood="poisson"), "likelihood"),
    (dict(reconstruction="nll", likelihood="gaussian"), "needs sigma"),
    (dict(reconstruction="huber"), "reconstruction"),
    (dict(reconstruction="bce", event_shape=()), "event_shape"),
    (dict(reconstruction="bce", latent_dim=0), "latent_dim"),
    (dict(reconstruction="bce", weight=-1.0), "weight"),
    (dict(reconstruction="bce", factor=0.0), "factor"),
    (dict(reconstruction="bce", rec_reduction="median"), "rec_reduction"),
    (dict(reconstruction="bce", kl_reduction="mean",
          capacity=conventions.Capacity(25.0, 10)), "summed KL"),
])
def test_bad_conventions(kwargs, match):
  values = dict(event_shape=(8, 8, 1), latent_dim=4)
  values.update(kwargs)
  with pytest.raises(ConfigError, match=match):
    Convention(**values)


@pytest.mark.parametrize("source,kwargs,match", [
    ("nope", {}, "unknown convention"),
    ("zip:x", {}, "unknown convention source"),
    ("flagfile:", {}, "needs a path"),
    ("pythae", dict(latent_dim=10), "input_shape is required"),
    ("pythae", dict(input_shape="8,8", sigma=1.0), "sigma does not apply"),
    ("tfvae", dict(reconstruction_loss="bernoulli", sigma=1.0,
                   input_shape="8,8", latent_dim=2), "Gaussian"),
    ("question", dict(input_shape="8,8", latent_dim=2, loss_reduction="mean"),
     "does not apply"),
    ("disentanglement_lib", dict(input_shape="8,8", latent_dim=2),
     "beta is required"),
    ("disentanglement_lib", dict(beta=1, gamma=2, input_shape="8,8",
                                 latent_dim=2), "give one"),
    ("disent", dict(input_shape="8,8", latent_dim=2,
                    loss_reduction="median"), "loss_reduction"),
    ("pythae", dict(input_shape="8,x", latent_dim=2), "input_shape"),
    ("pythae", dict(input_shape="8,8", latent_dim=2, beta=float("nan")),
     "beta"),
])
def test_bad_reads(source, kwargs, match):
  with pytest.raises(ConfigError, match=match):
    conventions.read(source, **kwargs)


def test_tfvae_flags_are_a_valid_config():
  from tfvae.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
  defaults = ExperimentConfig().to_flat()
  fields = set(defaults)
  sources = [
      pythae.read(beta=4, input_shape=(8, 8, 1), latent_dim=8),
      disent.read(input_shape=(8, 8, 1), latent_dim=8),
      keras_example.read(input_shape=(8, 8, 1), latent_dim=8),
      disentanglement_lib.read(gamma=100, c_max=5, input_shape=(8, 8, 1),
                               latent_dim=8),
      native.read(reconstruction_loss="continuous_bernoulli",
                  input_shape=(8, 8, 1), latent_dim=8),
  ]
  for c in sources:
    flags = c.tfvae_flags()
    assert set(flags) <= fields
    values = {}
    for name, text in flags.items():
      kind = type(defaults[name])
      values[name] = (float(text) if name in ("beta", "capacity_gamma",
                                              "capacity_max")
                      else int(text) if kind is int else text)
    ExperimentConfig.from_flat(values).validate()


def test_conventions_import_no_tensorflow():
  code = ("import sys; import tfvae.conventions; "
          "import tfvae.cli.weighting; "
          "print('tensorflow' in sys.modules)")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, cwd=ROOT, timeout=120,
                       env=dict(os.environ, PYTHONPATH=ROOT))
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip() == "False"


def test_tvae_loss_factor_is_one_over_beta_eff():
  c = conventions.read("tvae", input_shape=9, latent_dim=8,
                       columns="gaussian:4,bernoulli:3,categorical:4,"
                       "categorical:3")
  assert c.beta_eff == pytest.approx(0.5)  # TVAE's default loss_factor 2.
  assert c.decoder_likelihood == "columns"
  flags = c.tfvae_flags()
  assert flags["likelihood"] == "columns" and flags["beta"] == "0.5"
  assert flags["columns"].startswith("gaussian:4")
  assert conventions.read("tvae", loss_factor=4, input_shape=9,
                          latent_dim=8).beta_eff == pytest.approx(0.25)
  with pytest.raises(ConfigError, match="input_shape is required"):
    conventions.read("tvae", latent_dim=8)


@pytest.mark.parametrize("anneal_function,k,x0", [
    ("logistic", 0.0025, 2500), ("logistic", 0.0125, 500),
    ("linear", None, 2500)])
def test_sentence_vae_schedule_is_its_weight_at_every_step(anneal_function,
                                                           k, x0):
  """The tfvae flags read from Sentence-VAE's `-af -k -x0` give its
  `kl_anneal_function` (numpy, from its train.py) at every step, through the
  balancer the trainer builds."""
  from types import SimpleNamespace  # pylint: disable=import-outside-toplevel
  from absl import flags as absl_flags  # pylint: disable=import-outside-toplevel
  from tfvae.cli import flags as cli_flags  # pylint: disable=import-outside-toplevel
  from tfvae.models.factory import build_balancer  # pylint: disable=import-outside-toplevel
  source = conventions.read("sentence_vae", anneal_function=anneal_function,
                            k=k, x0=x0)
  assert source.beta_eff == 1.0 and source.decoder_likelihood == "categorical"
  flags = source.tfvae_flags()
  assert flags["model"] == "sequence" and flags["mask_value"] == "0"
  # The command line's own parsing (and its ignored-flag refusals).
  flag_values = absl_flags.FlagValues()
  cli_flags.define_config_flags(flag_values=flag_values)
  flag_values(["train.py"] + [f"--{n}={v}" for n, v in flags.items()])
  config = cli_flags.config_from_flags(flag_values, typed=set(flags))
  balancer = build_balancer(config, total_steps=20000)
  steps = np.arange(0, 12001, 7, dtype=np.float64)
  got = balancer.weight(SimpleNamespace(kl_weight=config.resolved_kl_weight(30)),
                        steps)
  k = k or 0.0025
  if anneal_function == "logistic":
    expected = 1 / (1 + np.exp(-k * (steps - x0)))
  else:
    expected = np.minimum(1, steps / x0)
  np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-7)
  at = conventions.read("sentence_vae", anneal_function=anneal_function,
                        k=k, x0=x0, step=1234)
  assert at.beta_eff == pytest.approx(float(np.interp(1234, steps, expected)),
                                      rel=1e-3)


def test_sentence_vae_bad_reads():
  with pytest.raises(ConfigError, match="anneal_function='cosine'"):
    conventions.read("sentence_vae", anneal_function="cosine")
  with pytest.raises(ConfigError, match="k and x0 must be > 0"):
    conventions.read("sentence_vae", x0=0)
