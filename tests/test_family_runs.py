"""Each likelihood family end to end: train, evaluate (IWAE), export, serve.

For every family a small run of `scripts/train.py` on data of its kind
exports a SavedModel; `scripts/evaluate.py` scores the run with the
importance-weighted bound; a process that cannot import tfvae serves the
export (encode, decode, elbo, sample); `saved_model_cli run` calls its
`elbo` signature.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_forked

# family -> (flags, data maker)
RNG = np.random.RandomState(0)


def _digits_open_unit():
  from sklearn import datasets  # pylint: disable=import-outside-toplevel
  images = datasets.load_digits().images[:400, :, :, None]
  return (images.astype(np.float32) + 0.5) / 17.0  # Inside (0, 1).


def _colour_uint8():
  return RNG.randint(0, 256, size=(300, 8, 8, 3)).astype(np.uint8)


def _table():
  n = 400
  cont = RNG.normal(size=(n, 2)).astype(np.float32)
  binary = (RNG.uniform(size=(n, 2)) < 0.3).astype(np.float32)
  codes = RNG.randint(0, 3, size=(n, 1)).astype(np.float32)
  return np.concatenate([cont, binary, codes], axis=1)


FAMILIES = {
    "beta": (["--likelihood=beta"], _digits_open_unit),
    "discretized_logistic": (["--likelihood=discretized_logistic",
                              "--num_mixtures=2", "--num_bits=8"],
                             _colour_uint8),
    "discretized_gaussian": (["--likelihood=discretized_gaussian",
                              "--num_bits=8"], _colour_uint8),
    "columns": (["--likelihood=columns",
                 "--columns=gaussian:2,bernoulli:2,categorical:3"], _table),
}

SERVE = r"""
import json, sys
sys.modules["tfvae"] = None  # This process cannot import tfvae.
import numpy as np
import tensorflow as tf
path, data, out = sys.argv[1:4]
model = tf.saved_model.load(path)
sig = model.signatures
x = np.load(data)["x"][:5]
if x.dtype == np.uint8:
  x = x.astype(np.float32) / 255.0
x = tf.constant(x, tf.float32)
enc = sig["encode"](x=x)
dec = sig["decode"](z=enc["z_mean"])
elbo = sig["elbo"](x=x)
sample = sig["sample"](num_samples=tf.constant(3))
json.dump({"neg_elbo": elbo["neg_elbo"].numpy().tolist(),
           "bits_per_dim": elbo["bits_per_dim"].numpy().tolist(),
           "mean_shape": list(dec["mean"].shape),
           "sample_shape": list(sample["images"].shape)}, open(out, "w"))
"""


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family_run(request, tmp_path_factory):
  name = request.param
  flags, make = FAMILIES[name]
  base = tmp_path_factory.mktemp(name)
  data = make()
  np.savez(base / "data.npz", x=data)
  logdir, export = base / "run", base / "export"
  proc = run_forked("train.py", f"--dataset=npz:{base / 'data.npz'}",
                    "--latent_dim=3", "--hidden_units=32", "--batch_size=32",
                    "--steps=40", "--eval_every=40", f"--logdir={logdir}",
                    f"--export_dir={export}", *flags)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return {"name": name, "base": base, "logdir": logdir, "export": export,
          "data": data}


def test_trains_with_finite_metrics_and_logs_the_family(family_run):
  with open(family_run["logdir"] / "final_metrics.json") as f:
    final = json.load(f)
  for key in ("neg_elbo", "bits_per_dim", "rate", "distortion"):
    assert np.isfinite(final[key]), (key, final[key])
  with open(family_run["logdir"] / "config.json") as f:
    assert json.load(f)["model"]["likelihood"] == family_run["name"]


def test_evaluates_with_the_importance_weighted_bound(family_run):
  out = family_run["base"] / "eval.json"
  proc = run_forked("evaluate.py", f"--logdir={family_run['logdir']}",
                    "--iw_samples=20", f"--output_json={out}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(out) as f:
    result = json.load(f)
  assert np.isfinite(result["iwae_nll"]) and np.isfinite(result["neg_elbo"])
  # The bound with 20 samples is no looser than the one-sample ELBO's
  # (up to Monte-Carlo noise of a few tenths of a nat per example).
  assert result["iwae_nll"] <= result["neg_elbo"] + 0.5


def test_served_by_a_process_without_tfvae(family_run):
  version = os.path.join(family_run["export"], "1")
  out = family_run["base"] / "served.json"
  proc = subprocess.run(
      [sys.executable, "-c", SERVE, version,
       str(family_run["base"] / "data.npz"), str(out)],
      capture_output=True, text=True, timeout=300,
      env=dict(os.environ, PYTHONPATH=""))
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(out) as f:
    served = json.load(f)
  assert np.all(np.isfinite(served["neg_elbo"]))
  event = list(family_run["data"].shape[1:])
  assert served["sample_shape"][0] == 3
  assert served["mean_shape"][0] == 5
  with open(os.path.join(version, "assets", "tfvae_export.json")) as f:
    metadata = json.load(f)
  assert metadata["likelihood"] == family_run["name"]
  assert metadata["likelihood_description"]["likelihood"] == \
      family_run["name"]
  assert metadata["image_shape"] == event


def test_saved_model_cli_runs_the_elbo_signature(family_run):
  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  version = os.path.join(family_run["export"], "1")
  np.save(family_run["base"] / "x.npy",
          np.asarray(family_run["data"][:2], np.float32) *
          (1 / 255 if family_run["data"].dtype == np.uint8 else 1))
  proc = subprocess.run(
      [cli, "run", "--dir", version, "--tag_set", "serve",
       "--signature_def", "elbo", "--inputs",
       f"x={family_run['base'] / 'x.npy'}"],
      capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "neg_elbo" in proc.stdout
