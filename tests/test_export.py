"""SavedModel export: signatures served without tfvae, versions, atomicity.

Each likelihood (and the reference port) is trained for a few steps, exported,
and loaded in a fresh Python process that never imports tfvae; every
signature's deterministic outputs must equal the in-process model's, the ELBO
must equal an independent recomputation, and the sampling signatures must
have the right shapes, ranges and statistics.
"""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT, run_script
from tfvae.config import ExperimentConfig
from tfvae.data import datasets
from tfvae.export import layout
from tfvae.export import saved_model
from tfvae.export import signatures as export_signatures
from tfvae.runs import versions
from tfvae.training import trainer

VARIANTS = {
    "gaussian_learned": dict(likelihood="gaussian", sigma="learned"),
    "gaussian_learned_channel": dict(likelihood="gaussian",
                                     sigma="learned_channel"),
    "gaussian_learned_pixel": dict(likelihood="gaussian",
                                   sigma="learned_pixel"),
    "gaussian_optimal": dict(likelihood="gaussian", sigma="optimal"),
    "gaussian_fixed": dict(likelihood="gaussian", sigma="0.5"),
    "bernoulli": dict(likelihood="bernoulli"),
    "continuous_bernoulli": dict(likelihood="continuous_bernoulli"),
    "reference_l2": dict(model="reference", reference_rec="l2"),
    "reference_bce": dict(model="reference", reference_rec="bce"),
    "conv_gaussian": dict(architecture="conv", likelihood="gaussian"),
}
LATENT = 3
NUM_X = 16
NUM_STATS = 512
LOG_2PI = np.log(2 * np.pi)

# Runs in a fresh interpreter: only TensorFlow and numpy, never tfvae.
LOADER = r"""
import json, os, sys
import numpy as np
import tensorflow as tf

jobs = json.load(open(sys.argv[1]))
report = {}
for name, job in jobs.items():
  inputs = np.load(job["inputs"])
  model = tf.saved_model.load(job["dir"])
  sig = model.signatures
  out = {}
  def run(key, signature, **kwargs):
    for k, v in sig[signature](**kwargs).items():
      out[f"{key}/{k}"] = v.numpy()
  x = tf.constant(inputs["x"])
  run("encode", "encode", x=x)
  run("serving_default", "serving_default", x=x)
  run("reconstruct", "reconstruct", x=x)
  run("elbo", "elbo", x=x)
  run("elbo_again", "elbo", x=x)
  run("elbo_single", "elbo", x=x[:1])
  run("decode", "decode", z=tf.constant(inputs["z"]))
  run("stats", "encode", x=tf.constant(inputs["x_stats"]))
  run("sample", "sample", num_samples=tf.constant(7))
  run("sample_decode", "decode", z=tf.constant(out["sample/z"]))
  if "encode_uint8" in sig:
    raw = tf.constant(inputs["raw"])
    run("encode_uint8", "encode_uint8", x=raw)
    run("reconstruct_uint8", "reconstruct_uint8", x=raw)
    run("elbo_uint8", "elbo_uint8", x=raw)
  errors = {}
  bad_x = tf.zeros([2] + [d + 1 for d in inputs["x"].shape[1:3]] +
                   [inputs["x"].shape[3]])
  for key, call in [
      ("encode_shape", lambda: sig["encode"](x=bad_x)),
      ("elbo_shape", lambda: sig["elbo"](x=bad_x)),
      ("decode_shape", lambda: sig["decode"](z=tf.zeros([2, 99]))),
      ("encode_dtype", lambda: sig["encode"](x=tf.zeros(inputs["x"].shape,
                                                        tf.float64))),
      ("function_shape", lambda: model.encode(bad_x))]:
    try:
      call()
      errors[key] = None
    except Exception as e:  # The message is what the test inspects.
      errors[key] = f"{type(e).__name__}: {e}"
  np.savez(job["outputs"], **out)
  with open(model.config_asset.asset_path.numpy().decode()) as f:
    config = json.load(f)
  with open(model.metadata_asset.asset_path.numpy().decode()) as f:
    metadata = json.load(f)
  report[name] = {"signatures": sorted(sig.keys()), "errors": errors,
                  "config": config, "metadata": metadata}
report["_modules"] = sorted(m for m in sys.modules
                            if m.split(".")[0] in ("tfvae", "scripts"))
json.dump(report, open(sys.argv[2], "w"))
"""


def _digits():
  images, scale = datasets.load_digits()
  return images, scale


def _small_model(config, images, scale, seed=1):
  """A model with non-trivial weights.

  `--sigma=optimal` trains a few steps, which sets the stored sigma that
  serving uses; the others get randomly perturbed weights (no tracing of a
  train step: faster, and just as good for comparing outputs).
  """
  model = trainer.build_compiled_model(config, images.shape[1:])
  if config.model.sigma == "optimal":
    x = images[:256].astype(np.float32) * scale
    model.fit(x, batch_size=64, epochs=1, verbose=0, shuffle=False)
    return model
  rng = np.random.RandomState(seed)
  for variable in model.trainable_weights:
    value = variable.numpy()
    variable.assign(value + 0.1 * rng.normal(size=value.shape).astype(
        value.dtype))
  return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  """Trains, exports and serves every variant; returns everything to check."""
  base = tmp_path_factory.mktemp("exports")
  images, scale = _digits()
  raw = images[:NUM_X]
  x = raw.astype(np.float32) * scale
  x_stats = images[:NUM_STATS].astype(np.float32) * scale
  z = np.random.RandomState(0).normal(size=(5, LATENT)).astype(np.float32)
  np.savez(base / "inputs.npz", x=x, raw=raw, z=z, x_stats=x_stats)
  models, paths, jobs = {}, {}, {}
  for name, overrides in VARIANTS.items():
    config = ExperimentConfig.from_flat(
        latent_dim=LATENT, hidden_units=32, learning_rate=3e-3, seed=1,
        **overrides).validate()
    tf.keras.utils.set_random_seed(1)
    model = _small_model(config, images, scale)
    path = saved_model.export(model, config, str(base / name),
                              uint8_scale=scale)
    models[name], paths[name] = model, path
    jobs[name] = {"dir": path, "inputs": str(base / "inputs.npz"),
                  "outputs": str(base / f"{name}.out.npz")}
  with open(base / "jobs.json", "w") as f:
    json.dump(jobs, f)
  env = dict(os.environ, PYTHONPATH="")
  proc = subprocess.run(
      [sys.executable, "-c", LOADER, str(base / "jobs.json"),
       str(base / "report.json")], capture_output=True, text=True,
      timeout=300, cwd=str(base), env=env)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(base / "report.json") as f:
    report = json.load(f)
  outputs = {name: dict(np.load(job["outputs"])) for name, job in jobs.items()}
  return {"models": models, "paths": paths, "report": report,
          "outputs": outputs, "x": x, "raw": raw, "z": z, "scale": scale,
          "x_stats": x_stats}


def test_loader_process_never_imported_tfvae(exported):
  assert exported["report"]["_modules"] == []


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_signatures_listed_with_assets(exported, name):
  entry = exported["report"][name]
  assert entry["signatures"] == sorted(
      ["serving_default", "encode", "decode", "reconstruct", "sample", "elbo",
       "encode_uint8", "reconstruct_uint8", "elbo_uint8"])
  config = ExperimentConfig.from_dict(entry["config"]).to_flat()
  assert config["latent_dim"] == LATENT
  for key, value in VARIANTS[name].items():
    assert config[key] == value
  meta = entry["metadata"]
  assert meta["tfvae_version"] == __import__("tfvae").__version__
  assert meta["image_shape"] == [8, 8, 1]
  assert meta["data_scale"] == pytest.approx(1 / 16)
  assert os.path.basename(exported["paths"][name]) == "1"


def _close(actual, expected, atol=1e-5, rtol=1e-5):
  np.testing.assert_allclose(actual, np.asarray(expected), atol=atol,
                             rtol=rtol)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_deterministic_signatures_match_in_process_model(exported, name):
  model, out = exported["models"][name], exported["outputs"][name]
  x, z = exported["x"], exported["z"]
  z_mean, z_log_variance = model.encode(x)
  _close(out["encode/z_mean"], z_mean)
  _close(out["encode/z_log_variance"], z_log_variance)
  _close(out["serving_default/z_mean"], z_mean)
  _close(out["reconstruct/reconstruction"], model.reconstruct(x))
  expected = model.decode_distribution_params(tf.constant(z))
  _close(out["decode/mean"], expected["mean"])
  _close(out["decode/params"], model.decode_params(tf.constant(z)))
  if "scale" in expected:
    _close(out["decode/scale"], expected["scale"])
  # The raw-integer variants scale by 1/16 inside the graph.
  _close(out["encode_uint8/z_mean"], z_mean)
  _close(out["reconstruct_uint8/reconstruction"],
         out["reconstruct/reconstruction"])
  _close(out["elbo_uint8/neg_elbo"], out["elbo/neg_elbo"])


def _independent_log_likelihood(model, name, x, z):
  """log p(x|z) per example, from closed forms where they are simple."""
  if name in ("gaussian_optimal", "gaussian_fixed"):
    sigma = (np.exp(model.likelihood.last_log_sigma.numpy())
             if name == "gaussian_optimal" else 0.5)
    loc = model.decode_mean(z).numpy()
    per_feature = (-0.5 * ((x - loc) / sigma) ** 2 - np.log(sigma) -
                   0.5 * LOG_2PI)
    return per_feature.reshape(len(x), -1).sum(axis=1)
  if name == "bernoulli":
    p = model.decode_mean(z).numpy().astype(np.float64)
    per_feature = x * np.log(p) + (1 - x) * np.log1p(-p)
    return per_feature.reshape(len(x), -1).sum(axis=1)
  return model.log_likelihood(x, z).numpy()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_elbo_signature_is_the_fixed_sample_elbo(exported, name):
  model, out, x = exported["models"][name], exported["outputs"][name], \
      exported["x"]
  mu, log_var = (t.numpy() for t in model.encode(x))
  rate = -0.5 * np.sum(1 + log_var - mu ** 2 - np.exp(log_var), axis=1)
  eps = export_signatures.elbo_epsilon(LATENT).numpy()
  log_liks = [_independent_log_likelihood(
      model, name, x, tf.constant(mu + np.exp(0.5 * log_var) * e))
              for e in eps]
  distortion = -np.mean(log_liks, axis=0)
  _close(out["elbo/rate"], rate, atol=1e-4)
  _close(out["elbo/distortion"], distortion, atol=2e-3, rtol=1e-4)
  _close(out["elbo/neg_elbo"], rate + distortion, atol=2e-3, rtol=1e-4)
  _close(out["elbo/bits_per_dim"], (rate + distortion) / (64 * np.log(2)),
         atol=1e-4, rtol=1e-4)
  # A deterministic score of each example alone, whatever the batch.
  np.testing.assert_array_equal(out["elbo/neg_elbo"],
                                out["elbo_again/neg_elbo"])
  _close(out["elbo_single/neg_elbo"], out["elbo/neg_elbo"][:1])


def test_optimal_sigma_serves_the_last_training_batch_sigma(exported):
  model = exported["models"]["gaussian_optimal"]
  out = exported["outputs"]["gaussian_optimal"]
  log_sigma = float(model.likelihood.last_log_sigma.numpy())
  assert log_sigma != 0.0  # Training stored the batch optimum (init is 0).
  _close(out["decode/scale"], np.full_like(out["decode/scale"],
                                           np.exp(log_sigma)))


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_sampling_signatures(exported, name):
  out = exported["outputs"][name]
  images = out["sample/images"]
  assert images.shape == (7, 8, 8, 1)
  assert out["sample/z"].shape == (7, LATENT)
  assert np.all(np.isfinite(images))
  assert images.min() >= 0.0 and images.max() <= 1.0
  _close(out["sample_decode/mean"], images)
  # encode's z is z_mean + sigma * eps with eps ~ N(0, 1).
  eps = ((out["stats/z"] - out["stats/z_mean"]) /
         np.exp(0.5 * out["stats/z_log_variance"])).ravel()
  assert eps.size == NUM_STATS * LATENT
  assert abs(eps.mean()) < 4 / np.sqrt(eps.size)
  assert abs(eps.std() - 1) < 0.06
  assert not np.allclose(out["encode/z"], out["serving_default/z"])


@pytest.mark.parametrize("name", ["gaussian_learned", "reference_bce"])
def test_wrong_input_shapes_and_dtypes_fail_clearly(exported, name):
  errors = exported["report"][name]["errors"]
  for key in ("encode_shape", "elbo_shape"):
    assert errors[key] is not None
    assert "not compatible with expected shape [?,8,8,1]" in errors[key]
  assert "not compatible with expected shape [?,3]" in errors["decode_shape"]
  assert errors["encode_dtype"] is not None
  assert "float64" in errors["encode_dtype"] or "double" in \
      errors["encode_dtype"]
  assert errors["function_shape"] is not None
  assert "(None, 8, 8, 1)" in errors["function_shape"]


def test_saved_model_cli_lists_every_signature(exported):
  cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
  proc = subprocess.run([cli, "show", "--all", "--dir",
                         exported["paths"]["gaussian_optimal"]],
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  for name in ("serving_default", "encode", "decode", "reconstruct", "sample",
               "elbo", "encode_uint8", "reconstruct_uint8", "elbo_uint8"):
    assert f"signature_def['{name}']" in proc.stdout
  assert "DT_UINT8" in proc.stdout and "num_samples" in proc.stdout


# ------------------------------------------------------- versions, atomicity


def _tree(root):
  """{relative path: (bytes, mtime_ns)} of every file under root."""
  snapshot = {}
  for directory, _, files in os.walk(root):
    for name in files:
      path = os.path.join(directory, name)
      with open(path, "rb") as f:
        snapshot[os.path.relpath(path, root)] = (f.read(),
                                                 os.stat(path).st_mtime_ns)
  return snapshot


@pytest.fixture(scope="module")
def small_model():
  config = ExperimentConfig.from_flat(latent_dim=2, hidden_units=8).validate()
  return config, trainer.build_compiled_model(config, (8, 8, 1))


def test_export_under_existing_version_makes_next_and_keeps_old(tmp_path,
                                                                small_model):
  config, model = small_model
  base = str(tmp_path / "m")
  first = saved_model.export(model, config, base)
  before = _tree(first)
  second = saved_model.export(model, config, base)
  assert os.path.basename(first) == "1" and os.path.basename(second) == "2"
  assert _tree(first) == before
  os.makedirs(os.path.join(base, "7"))  # A foreign version number.
  assert os.path.basename(saved_model.export(model, config, base)) == "8"
  assert versions.existing_versions(base) == [1, 2, 7, 8]
  assert sorted(os.listdir(base)) == ["1", "2", "7", "8"]


def test_failed_export_leaves_no_visible_version(tmp_path, small_model,
                                                 monkeypatch):
  config, model = small_model
  base = str(tmp_path / "m")
  saved_model.export(model, config, base)
  before = _tree(base)
  real_save = tf.saved_model.save

  def save_then_fail(*args, **kwargs):
    real_save(*args, **kwargs)
    raise OSError("disk full")

  monkeypatch.setattr(tf.saved_model, "save", save_then_fail)
  # One line for the user (an OSError would be a traceback).
  with pytest.raises(layout.ExportError, match=r"cannot write the export in "
                     r".*: disk full; existing versions are unchanged"):
    saved_model.export(model, config, base)
  assert sorted(os.listdir(base)) == ["1"]
  assert _tree(base) == before


KILLED_EXPORT = r"""
import os, signal, sys
import tensorflow as tf
from tfvae.config import ExperimentConfig
from tfvae.export import saved_model
from tfvae.training import trainer
config = ExperimentConfig.from_flat(latent_dim=2, hidden_units=8).validate()
model = trainer.build_compiled_model(config, (8, 8, 1))
real_save = tf.saved_model.save
def save_then_die(*args, **kwargs):
  real_save(*args, **kwargs)
  os.kill(os.getpid(), signal.SIGKILL)
tf.saved_model.save = save_then_die
saved_model.export(model, config, sys.argv[1])
"""


def test_sigkill_during_export_leaves_no_visible_version(tmp_path,
                                                         small_model):
  config, model = small_model
  base = str(tmp_path / "m")
  proc = subprocess.run([sys.executable, "-c", KILLED_EXPORT, base],
                        capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
  leftovers = os.listdir(base)
  assert versions.existing_versions(base) == []
  assert len(leftovers) == 1 and leftovers[0].startswith(layout.TMP_PREFIX)
  assert os.path.exists(os.path.join(base, leftovers[0], "saved_model.pb"))
  # The next export cleans up the dead exporter's directory.
  path = saved_model.export(model, config, base)
  assert sorted(os.listdir(base)) == ["1"] and path.endswith("1")


def test_export_base_that_cannot_hold_versions_is_refused(tmp_path,
                                                          small_model):
  config, model = small_model
  a_file = tmp_path / "file"
  a_file.write_text("x")
  with pytest.raises(layout.ExportError, match="not a directory"):
    saved_model.export(model, config, str(a_file))
  version = saved_model.export(model, config, str(tmp_path / "m"))
  with pytest.raises(layout.ExportError, match="is itself a SavedModel"):
    saved_model.export(model, config, version)
  assert sorted(os.listdir(tmp_path / "m")) == ["1"]


def test_training_and_export_script_write_versions_of_the_same_model(
    tmp_path):
  logdir, base = str(tmp_path / "run"), str(tmp_path / "served")
  # train.py --export_dir, in process (the same trainer call).
  config = ExperimentConfig.from_flat(
      steps=12, eval_every=12, hidden_units=16, latent_dim=2, verbose=0,
      logdir=logdir, export_dir=base).validate()
  final = trainer.train(config, print_fn=lambda *args: None)
  assert final["export_path"] == f"{base}/1"
  out = run_script("export.py", f"--checkpoint={logdir}/checkpoints/ckpt-12",
                   f"--export_dir={base}")
  assert out.returncode == 0, out.stderr
  assert out.stderr == ""
  assert out.stdout.strip().endswith(f"{base}/2")
  for version in ("1", "2"):
    with open(os.path.join(base, version, "assets", "tfvae_export.json")) as f:
      assert json.load(f)["step"] == 12
  images, scale = _digits()
  x = tf.constant(images[:8].astype(np.float32) * scale)
  first = tf.saved_model.load(os.path.join(base, "1")).signatures["encode"]
  second = tf.saved_model.load(os.path.join(base, "2")).signatures["encode"]
  np.testing.assert_array_equal(first(x=x)["z_mean"].numpy(),
                                second(x=x)["z_mean"].numpy())
