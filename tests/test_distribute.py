"""tf.distribute, XLA and mixed precision give the numbers of one plain device.

The TensorFlow work runs in subprocesses (`tests/distribute_checks.py`):
logical-device configuration, the mixed-precision policy and multi-worker
collectives are process-wide and must not leak into other tests.

- MirroredStrategy over two logical CPUs vs the default strategy on the same
  global batch (two SGD steps, posterior noise on): updated weights (1e-5),
  logged loss and every logged value, and controller state (GECO's lambda and
  moving average) agree; the classic bug (a plain per-replica batch mean) is
  caught by the same comparison.
- Two local MultiWorkerMirroredStrategy workers (TF_CONFIG on loopback), each
  training on its own half of a global batch, end with identical weights,
  equal to one device trained on the whole batch.
- jit_compile on and off give the same loss on the same batch (1e-5).
- mixed_bfloat16 trains with bfloat16 layers, float32 variables and float32
  likelihood math, and every value stays finite; mixed_float16 trains with
  Keras' loss-scaling optimizer.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKS = os.path.join(ROOT, "tests", "distribute_checks.py")
TIMEOUT = 300
WEIGHT_TOLERANCE = 1e-5
VALUE_RTOL = 1e-5


def run_checks(*args, env=None):
  """Runs a distribute_checks command; returns its JSON result."""
  full_env = dict(os.environ)
  full_env.update(env or {})
  proc = subprocess.run([sys.executable, CHECKS, *args], capture_output=True,
                        text=True, timeout=TIMEOUT, env=full_env, cwd=ROOT)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_same(diffs, name):
  assert diffs["weight"] <= WEIGHT_TOLERANCE, (name, diffs)
  for kind in ("state", "last", "history"):
    assert diffs[kind + "_rel"] <= VALUE_RTOL, (name, kind, diffs)


@pytest.mark.slow
def test_mirrored_run_sees_the_default_runs_batches(tmp_path):
  """50 steps of the trainer, 2 replicas vs one device, from the same seed."""
  result = run_checks("mirrored_run", str(tmp_path))
  for case in ("reference", "learned_sigma"):
    assert result[case]["weight"] <= WEIGHT_TOLERANCE, (case, result)
    assert result[case]["weight_scale"] > 0.01  # Trained, non-trivial weights.


def test_every_iterator_of_the_training_pipeline_yields_the_same_batches():
  """Keras peeks at a batch with its own iterator under a strategy; the
  training iterator must still start where a plain run starts."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from tfvae.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
  from tfvae.data import datasets  # pylint: disable=import-outside-toplevel
  from tfvae.data import pipeline  # pylint: disable=import-outside-toplevel
  data = datasets.load_data(ExperimentConfig().validate())
  tf.random.set_seed(4)
  ds = pipeline.train_dataset(data, 64, seed=4)
  steps_per_pass = data.num_train // 64
  first = [b.numpy() for b in ds.take(steps_per_pass + 3)]
  second = [b.numpy() for b in ds.take(steps_per_pass + 3)]
  for a, b in zip(first, second):
    np.testing.assert_array_equal(a, b)
  # Still a fresh order on each pass over the data, and no batch repeated.
  sums = [float(np.sum(b)) for b in first]
  assert len(set(np.round(sums, 4))) == len(sums)
  assert not np.array_equal(first[0], first[steps_per_pass])


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
  return run_checks("mirrored", str(tmp_path_factory.mktemp("mirrored")))


@pytest.mark.parametrize("case", ["reference", "learned_sigma", "geco",
                                  "geco_adam", "optimal_sigma"])
def test_mirrored_step_equals_one_device(mirrored, case):
  assert mirrored["replicas"] == 2
  assert_same(mirrored[case], case)


def test_mirrored_geco_controller_state_matches(mirrored):
  one, two = mirrored["geco"]["geco_lambda"]
  assert one != 1.0  # The controller moved, so the comparison means something.
  assert two == pytest.approx(one, rel=VALUE_RTOL)


def test_trainer_runs_on_two_replicas(mirrored):
  run = mirrored["trainer"]
  assert run["step"] == 20 and np.isfinite(run["neg_elbo"])
  # Keras' multi-step loop fails with several replicas: one step per call.
  assert run["steps_per_execution"] == 1
  run = mirrored["trainer_bfloat16"]
  assert run["step"] == 20 and np.isfinite(run["neg_elbo"])
  assert run["precision"] == "mixed_bfloat16"


def test_plain_batch_mean_is_caught(mirrored):
  # A per-replica reduce_mean doubles the gradient on two replicas.
  diffs = mirrored["plain_mean_control"]
  assert diffs["weight"] > 100 * WEIGHT_TOLERANCE
  assert diffs["last_rel"] > 0.1


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  try:
    for s in sockets:
      s.bind(("127.0.0.1", 0))
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


def test_multi_worker_agrees_with_one_device(tmp_path):
  workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
  procs = []
  for index in range(2):
    env = dict(os.environ, TF_CONFIG=json.dumps(
        {"cluster": {"worker": workers},
         "task": {"type": "worker", "index": index}}))
    procs.append(subprocess.Popen(
        [sys.executable, CHECKS, "worker", str(index),
         str(tmp_path / f"worker{index}.npz")],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True))
  procs.append(subprocess.Popen(
      [sys.executable, CHECKS, "single", str(tmp_path / "single.npz")],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  try:
    outputs = [p.communicate(timeout=TIMEOUT) for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  for p, (out, err) in zip(procs, outputs):
    assert p.returncode == 0, err[-3000:]
  for out, _ in outputs[:2]:
    result = json.loads(out.strip().splitlines()[-1])
    assert result["replicas"] == 2 and result["steps"] == 3
  w0, w1, single = (dict(np.load(tmp_path / f"{name}.npz"))
                    for name in ("worker0", "worker1", "single"))
  assert set(w0) == set(w1) == set(single)
  for key in w0:
    assert np.all(np.isfinite(w0[key])), key
    np.testing.assert_array_equal(w0[key], w1[key], err_msg=key)
    if key.startswith("weight:"):
      np.testing.assert_allclose(w0[key], single[key], rtol=0,
                                 atol=WEIGHT_TOLERANCE, err_msg=key)
    else:
      np.testing.assert_allclose(w0[key], single[key], rtol=VALUE_RTOL,
                                 err_msg=key)


def test_xla_gives_the_same_loss():
  result = run_checks("xla")
  assert set(result) == {"reference", "learned_sigma_mlp",
                         "learned_sigma_conv", "geco"}
  for name, diffs in result.items():
    without_xla, with_xla = diffs["loss"]
    assert with_xla == pytest.approx(without_xla, rel=VALUE_RTOL), name
    assert diffs["last_rel"] <= VALUE_RTOL, (name, diffs)
    assert diffs["weight"] <= 1e-4, (name, diffs)


def test_mixed_bfloat16_keeps_likelihood_math_in_float32(tmp_path):
  result = run_checks("mixed", str(tmp_path / "run"))
  # The body computes in bfloat16; the latent heads and the decoder's input
  # and output layers stay float32 (tfvae.networks, tests/test_precision.py).
  assert result["layer_compute_dtypes"] == ["bfloat16", "float32"]
  assert result["variable_dtypes"] == ["float32"]
  assert result["term_dtypes"] == ["float32"]
  assert result["params_dtype"] == "float32"
  assert result["nll_dtype"] == "float32"
  assert result["all_finite"]
  # bfloat16 layers change the loss after five steps a little, not its scale.
  assert result["loss_bfloat16"] == pytest.approx(result["loss_float32"],
                                                  rel=0.02)
  assert all(np.isfinite(v) for v in result["train_final"].values())
  assert result["float16_loss_scaled"] == "LossScaleOptimizer"
  assert result["float16_finite"]
