"""scripts/weighting.py (tfvae-weighting): tables, JSON, bad input, --recommend,
and a run trained with the printed flags logging the predicted beta_eff."""

import json
import math
import os

import pytest

from conftest import ROOT
from conftest import run_forked
from conftest import run_script

PYTHAE = ["--from=pythae", "--beta=4", "--reconstruction_loss=mse",
          "--input_shape=64,64,1", "--latent_dim=10"]


def weighting_json(*args):
  out = run_forked("weighting.py", *args, "--json", timeout=120)
  assert out.returncode == 0, out.stderr
  return json.loads(out.stdout)


def test_pythae_table_and_command():
  out = run_forked("weighting.py", *PYTHAE, timeout=120)
  assert out.returncode == 0, out.stderr
  text = out.stdout
  # 0.5 SSE + 4 KL: beta_eff 4 (sigma^2 = 1), beta_l2 8, beta_norm 40/4096.
  assert "beta_eff (ELBO units" in text and "0.00976562" in text
  assert "disentanglement_lib beta_vae, l2" in text and "vae.beta = 8" in text
  assert ("python scripts/train.py --model=vae --likelihood=gaussian "
          "--sigma=1 --rec_reduction=sum --kl_reduction=sum --beta=4 "
          "--latent_dim=10") in text


def test_json_has_every_unit():
  d = weighting_json(*PYTHAE)
  assert d["beta_eff"] == 4.0 and d["beta_l2"] == 8.0 and d["sigma2"] == 1.0
  assert d["beta_norm"] == 4 * 10 / 4096
  assert "--beta=4" in d["flags"] and "--sigma=1" in d["flags"]
  assert d["peer_version"].startswith("pythae 0.1.2")
  weights = {e["label"]: e.get("weight") for e in d["equivalents"]}
  assert weights["the question, l2, sum/sum"] == 8.0


def test_bernoulli_json_has_null_sigma2():
  d = weighting_json("--from=keras_example")
  assert d["sigma2"] is None and d["beta_l2"] is None and d["beta_eff"] == 1.0
  assert "--likelihood=bernoulli" in d["flags"]


def test_file_sources(tmp_path):
  d = weighting_json("--from=flagfile:scripts/flags/question_mean_mean_0.1.flags")
  assert math.isclose(d["beta_norm"], 0.1) and math.isclose(d["beta_l2"], 0.8)
  gin = tmp_path / "m.gin"
  gin.write_text("model.model = @vae()\nvae.beta = 16.\n"
                 "encoder.num_latent = 10\ndataset.name = 'dsprites_full'\n"
                 "reconstruction_loss.loss_fn = @bernoulli_loss\n")
  d = weighting_json(f"--from=gin:{gin}")
  # bernoulli_loss + 16 KL_sum: beta_eff 16, beta_norm 16 * 10 / 4096.
  assert d["beta_eff"] == 16.0 and d["beta_norm"] == 160 / 4096


REAL_PROCESS_MESSAGES = ("--sigma applies to a Gaussian", "during training")


@pytest.mark.parametrize("args,message", [
    (["--from=tfvae", "--reconstruction_loss=bernoulli", "--sigma=0.5",
      "--input_shape=8,8,1", "--latent_dim=8"], "--sigma applies to a Gaussian"),
    (["--from=question", "--reconstruction_loss=bce", "--sigma=1",
      "--input_shape=8,8,1", "--latent_dim=8"], "--sigma does not apply"),
    (["--from=pythae", "--beta=4"], "--input_shape is required"),
    (["--from=caffe"], "unknown convention 'caffe'"),
    (["--beta=4"], "--from is required"),
    (["--from=pythae", "extra"], "unexpected arguments"),
    (["--from=pythae", "--latent_dim=x"], "latent_dim"),
    (["--from=flagfile:scripts/flags/geco.flags"], "during training"),
    (["--recommend", "--from=pythae"], "drop --from"),
    (["--recommend", "--beta=3"], "drop --beta"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
  # Two cases run in a fresh interpreter, so nothing TensorFlow prints while
  # it loads reaches stderr; the others in a process forked after the imports.
  run = run_script if message in REAL_PROCESS_MESSAGES else run_forked
  out = run("weighting.py", *args, timeout=120)
  assert out.returncode == 2, out.stdout + out.stderr
  lines = out.stderr.strip().splitlines()
  assert len(lines) == 1 and message in lines[0], out.stderr
  assert out.stdout == ""


def test_entry_point_is_declared():
  with open(os.path.join(ROOT, "pyproject.toml")) as f:
    text = f.read()
  assert 'tfvae-weighting = "tfvae.cli.weighting:main"' in text


@pytest.mark.slow
def test_recommend_reports_two_sigma_star_squared_in_every_convention(tmp_path):
  d = weighting_json("--recommend", "--dataset=digits", "--steps=40",
                     f"--logdir={tmp_path / 'rec'}")
  r = d["recommendation"]
  sigma2 = r["sigma"]**2
  assert 0 < sigma2 < 1 and r["steps"] == 40
  assert math.isclose(r["beta_l2"], 2 * sigma2)
  assert math.isclose(d["beta_l2"], 2 * sigma2) and d["beta_eff"] == 1.0
  weights = {e["label"]: e.get("weight") for e in d["equivalents"]}
  # SSE + 2 sigma*^2 KL_sum; pythae's 0.5 SSE + b KL_sum needs b = sigma*^2;
  # MSE + w KL_mean on digits (K 64, J 8) needs w = 2 sigma*^2 * 8 / 64.
  assert math.isclose(weights["the question, l2, sum/sum"], 2 * sigma2)
  assert math.isclose(weights["pythae BetaVAE, reconstruction_loss=mse"],
                      sigma2)
  assert math.isclose(weights["the question, l2, mean/mean"],
                      2 * sigma2 * 8 / 64)
  assert "not a disentanglement choice" in r["caveat"]
  with open(tmp_path / "rec" / "final_metrics.json") as f:
    assert json.load(f)["sigma"] == r["sigma"]


@pytest.mark.slow
@pytest.mark.parametrize("source", [
    # pythae mse beta 4: sum/sum, sigma 1, beta_eff 4.
    ["--from=pythae", "--beta=4", "--reconstruction_loss=mse"],
    # disent's default: MSE + 0.003 KL_mean: mean/mean, sigma^2 1/2,
    # beta_eff = 0.003 * 64 / 8 = 0.024.
    ["--from=disent"],
])
def test_a_run_with_the_printed_flags_logs_the_predicted_beta_eff(source,
                                                                   tmp_path):
  d = weighting_json(*source, "--input_shape=8,8,1", "--latent_dim=8")
  logdir = tmp_path / "run"
  out = run_forked("train.py", *d["flags"], "--dataset=digits", "--steps=20",
                   "--eval_every=20", f"--logdir={logdir}", timeout=600)
  assert out.returncode == 0, out.stderr[-2000:]
  with open(logdir / "final_metrics.json") as f:
    final = json.load(f)
  assert math.isclose(final["beta_eff"], d["beta_eff"], rel_tol=1e-6)
  assert math.isclose(final["beta_norm"], d["beta_norm"], rel_tol=1e-6)
  assert math.isclose(final["beta_sse_units"], d["beta_l2"], rel_tol=1e-5)
  # And the run directory reads back as the same objective.
  back = weighting_json(f"--from=run:{logdir}")
  assert math.isclose(back["beta_eff"], d["beta_eff"], rel_tol=1e-12)
  assert back["flags"] == d["flags"]
