"""Exports run under the session-based loaders TF Serving uses.

`tf.saved_model.load` (TF2) maps a function's captured variables through the
SavedModel's object graph; `saved_model_cli run`, `tf.compat.v1` session
loading and TF Serving's C++ loader instead run the MetaGraph: its variable
ops and the saver's restore ops. An export whose captured variables are not
in that graph loads under TF2 and fails under the others with "Could not find
variable". Every signature of a fresh export is run both ways, in processes
that never import tfvae, and the outputs must agree (the deterministic ones to
float32 precision; the sampling ones in shape and scale).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfvae.config import ExperimentConfig
from tfvae.data import datasets
from tfvae.export import saved_model
from tfvae.training import trainer

VARIANTS = {
    "gaussian_optimal": dict(likelihood="gaussian", sigma="optimal"),
    "gaussian_learned_pixel": dict(likelihood="gaussian",
                                   sigma="learned_pixel"),
    "continuous_bernoulli": dict(likelihood="continuous_bernoulli"),
    "reference_bce": dict(model="reference", reference_rec="bce"),
    "conv_gaussian": dict(architecture="conv", likelihood="gaussian"),
}
X_SIGNATURES = ("serving_default", "encode", "reconstruct", "elbo")
U8_SIGNATURES = ("encode_uint8", "reconstruct_uint8", "elbo_uint8")
ALL_SIGNATURES = X_SIGNATURES + U8_SIGNATURES + ("decode", "sample")
# Outputs drawn afresh on every call: compared in shape only.
RANDOM_OUTPUTS = {"z", "images"}
NUM_SAMPLES = 5

# Runs in a fresh interpreter that never imports tfvae: every signature via
# TF2 `tf.saved_model.load` and via a TF1 Session with
# `tf.compat.v1.saved_model.loader.load` (TF Serving's path).
LOADER = r"""
import json, sys
import numpy as np
import tensorflow as tf

jobs = json.load(open(sys.argv[1]))
for job in jobs:
  feeds = {name: np.load(path) for name, path in job["feeds"].items()}
  loaded = tf.saved_model.load(job["dir"])
  out = {}
  for signature, arg in job["signatures"].items():
    result = loaded.signatures[signature](**{arg: tf.constant(feeds[
        job["feed_of"][signature]])})
    for key, value in result.items():
      out[f"tf2/{signature}/{key}"] = value.numpy()
  with tf.Graph().as_default() as graph:
    with tf.compat.v1.Session(graph=graph) as sess:
      meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], job["dir"])
      for signature, arg in job["signatures"].items():
        sig = meta.signature_def[signature]
        fetches = {key: info.name for key, info in sig.outputs.items()}
        values = sess.run(fetches, feed_dict={
            sig.inputs[arg].name: feeds[job["feed_of"][signature]]})
        for key, value in values.items():
          out[f"tf1/{signature}/{key}"] = value
  np.savez(job["outputs"], **out)
print(sorted(m for m in sys.modules if m.split(".")[0] == "tfvae"))
"""


def _model(config, images, scale):
  """A small model with non-trivial weights (`optimal` trains, to set sigma)."""
  tf.keras.utils.set_random_seed(1)
  model = trainer.build_compiled_model(config, images.shape[1:])
  if config.model.sigma == "optimal":
    x = images[:128].astype(np.float32) * scale
    model.fit(x, batch_size=64, epochs=1, verbose=0, shuffle=False)
    return model
  rng = np.random.RandomState(1)
  for variable in model.trainable_weights:
    value = variable.numpy()
    variable.assign(value + 0.1 * rng.normal(size=value.shape).astype(
        value.dtype))
  return model


def _feed_of(signature):
  if signature in U8_SIGNATURES:
    return "raw"
  return {"decode": "z", "sample": "num_samples"}.get(signature, "x")


def _arg_of(signature):
  return {"decode": "z", "sample": "num_samples"}.get(signature, "x")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
  base = tmp_path_factory.mktemp("served")
  images, scale = datasets.load_digits()
  feeds = {
      "x": images[:6].astype(np.float32) * scale,
      "raw": images[:6],
      "z": np.random.RandomState(0).normal(size=(4, 3)).astype(np.float32),
      "num_samples": np.int32(NUM_SAMPLES),
  }
  feed_paths = {}
  for name, value in feeds.items():
    feed_paths[name] = str(base / f"{name}.npy")
    np.save(feed_paths[name], value)
  jobs, paths = [], {}
  for name, overrides in VARIANTS.items():
    config = ExperimentConfig.from_flat(latent_dim=3, hidden_units=16, learning_rate=3e-3, seed=1,
                    **overrides).validate()
    model = _model(config, images, scale)
    paths[name] = saved_model.export(model, config, str(base / name),
                                     uint8_scale=scale)
    jobs.append({"dir": paths[name], "feeds": feed_paths,
                 "signatures": {s: _arg_of(s) for s in ALL_SIGNATURES},
                 "feed_of": {s: _feed_of(s) for s in ALL_SIGNATURES},
                 "outputs": str(base / f"{name}.npz")})
  with open(base / "jobs.json", "w") as f:
    json.dump(jobs, f)
  proc = subprocess.run(
      [sys.executable, "-c", LOADER, str(base / "jobs.json")],
      capture_output=True, text=True, timeout=600, cwd=str(base),
      env=dict(os.environ, PYTHONPATH=""))
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.strip().splitlines()[-1] == "[]"  # never imported tfvae
  outputs = {job["dir"]: dict(np.load(job["outputs"])) for job in jobs}
  return {"paths": paths, "outputs": outputs, "feeds": feeds,
          "feed_paths": feed_paths, "base": base}


def _assert_same(name, key, first, second):
  """Deterministic outputs agree; fresh random ones in shape and scale."""
  assert first.shape == second.shape, (name, key)
  assert np.all(np.isfinite(first)) and np.all(np.isfinite(second)), (name,
                                                                      key)
  if key.split("/")[-1] in RANDOM_OUTPUTS:
    return
  np.testing.assert_allclose(first, second, rtol=1e-6, atol=1e-6,
                             err_msg=f"{name} {key}")


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_signature_runs_in_a_tf1_session_like_tf2(served, name):
  out = served["outputs"][served["paths"][name]]
  for signature in ALL_SIGNATURES:
    tf2 = {k[len(f"tf2/{signature}/"):]: v for k, v in out.items()
           if k.startswith(f"tf2/{signature}/")}
    tf1 = {k[len(f"tf1/{signature}/"):]: v for k, v in out.items()
           if k.startswith(f"tf1/{signature}/")}
    assert tf2 and sorted(tf1) == sorted(tf2), (signature, sorted(tf1))
    for key in tf2:
      _assert_same(name, f"{signature}/{key}", tf1[key], tf2[key])
  # The uint8 signatures are the float ones on raw values * data_scale.
  for signature in ("encode", "reconstruct", "elbo"):
    for key in out:
      if key.startswith(f"tf1/{signature}/") and not key.endswith("/z"):
        u8 = key.replace(f"/{signature}/", f"/{signature}_uint8/")
        np.testing.assert_allclose(out[u8], out[key], rtol=1e-6, atol=1e-6)
  assert out["tf1/sample/images"].shape[0] == NUM_SAMPLES
  assert out["tf1/sample/z"].shape == (NUM_SAMPLES, 3)


# `saved_model_cli run` for several signatures in one interpreter (which never
# imports tfvae): each argv goes through the tool's own parser and `run`
# command, as its console script does, without ~8 s of imports per signature.
CLI_IN_ONE_PROCESS = r"""
import json, sys
from tensorflow.python.tools import saved_model_cli

for argv in json.loads(sys.argv[1]):
  sys.argv = ["saved_model_cli", *argv]
  saved_model_cli.create_parser().parse_args().func()
print(sorted(m for m in sys.modules if m.split(".")[0] == "tfvae"))
"""


def _cli_argv(path, signature, feed_path, outdir):
  return ["run", "--dir", path, "--tag_set", "serve", "--signature_def",
          signature, "--inputs", f"{_arg_of(signature)}={feed_path}",
          "--outdir", str(outdir), "--overwrite"]


def _check_cli(served, name, signatures, one_process=False):
  """`saved_model_cli run` of each signature gives the TF2 loader's outputs
  (the console script once per signature, or all in one interpreter)."""
  path = served["paths"][name]
  outdirs = {s: served["base"] / f"cli_{name}_{s}" for s in signatures}
  runs = [_cli_argv(path, s, served["feed_paths"][_feed_of(s)], outdirs[s])
          for s in signatures]
  env = dict(os.environ, PYTHONPATH="")
  if one_process:
    commands = [[sys.executable, "-c", CLI_IN_ONE_PROCESS, json.dumps(runs)]]
  else:
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    commands = [[cli, *argv] for argv in runs]
  for command in commands:
    proc = subprocess.run(command, capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
  if one_process:
    assert proc.stdout.strip().splitlines()[-1] == "[]"  # never imported tfvae
  out = served["outputs"][path]
  for signature in signatures:
    outdir = outdirs[signature]
    got = {f[:-4]: np.load(os.path.join(outdir, f))
           for f in os.listdir(outdir) if f.endswith(".npy")}
    expected = {k[len(f"tf2/{signature}/"):]: v for k, v in out.items()
                if k.startswith(f"tf2/{signature}/")}
    assert sorted(got) == sorted(expected), signature
    for key, value in expected.items():
      _assert_same(name, f"saved_model_cli {signature}/{key}", got[key],
                   value)


def test_saved_model_cli_runs_the_default_and_a_uint8_signature(served):
  _check_cli(served, "gaussian_optimal", ["serving_default", "elbo_uint8"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gaussian_learned_pixel", "reference_bce"])
def test_saved_model_cli_runs_every_signature(served, name):
  _check_cli(served, name, ALL_SIGNATURES, one_process=True)
