"""SIGKILL mid-run, restart: same final step, same weights, clean TensorBoard.

Two runs with the same seed start side by side: A runs to the end, B is killed
with SIGKILL as soon as its second checkpoint is on disk (so the kill lands a
few steps past a checkpoint boundary, possibly inside the next save) and is
then restarted with the same command. B must resume from its latest
checkpoint, reach the same final step, and end with variables (model,
optimizer slots, step, KL weight) bit-identical to A's: training posterior
noise is a pure function of (seed, step) and the data pipeline replays the
same batches. Its per-step TensorBoard curves must equal A's step for step,
without duplicates or gaps, and so must every validation curve and
final_metrics.json (wall-clock time aside): evaluation draws are stateless,
seeded by (seed, step). Rerunning the finished run evaluates only and leaves
final_metrics.json byte for byte as it was.
"""

import json

import collections
import glob
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

from conftest import ROOT, run_script

STEPS = 600
FLAGS = ["--steps=600", "--checkpoint_every=100", "--eval_every=200",
         "--hidden_units=32", "--latent_dim=3", "--seed=5", "--verbose=0"]
KILL_AFTER_CHECKPOINT = 200


def _latest_step(logdir):
  state = os.path.join(logdir, "checkpoints", "checkpoint")
  try:
    with open(state) as f:
      match = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', f.read(),
                        re.MULTILINE)
  except OSError:
    return None
  return int(match.group(1)) if match else None


def _start(logdir):
  return subprocess.Popen(
      [sys.executable, os.path.join(ROOT, "scripts", "train.py"), *FLAGS,
       f"--logdir={logdir}"], cwd=ROOT, stdout=subprocess.DEVNULL,
      stderr=subprocess.PIPE, text=True)


def _events(logdir, sub):
  """{tag: [(step, value), ...]} of the scalar summaries in logdir/sub."""
  # pylint: disable-next=import-outside-toplevel
  from tensorboard.compat.proto import event_pb2
  out = collections.defaultdict(list)
  for path in sorted(glob.glob(os.path.join(logdir, sub, "events.out.*"))):
    for record in tf.data.TFRecordDataset(path):
      event = event_pb2.Event.FromString(record.numpy())
      for value in event.summary.value:
        array = tf.make_ndarray(value.tensor)
        if array.dtype.kind == "f" and array.size == 1:
          out[value.tag].append((event.step, float(array)))
  return out


def test_sigkill_then_restart_matches_an_uninterrupted_run(tmp_path):
  logdir_a, logdir_b = str(tmp_path / "a"), str(tmp_path / "b")
  run_a, run_b = _start(logdir_a), _start(logdir_b)
  deadline = time.time() + 240
  while run_b.poll() is None and time.time() < deadline:
    step = _latest_step(logdir_b)
    if step is not None and step >= KILL_AFTER_CHECKPOINT:
      os.kill(run_b.pid, signal.SIGKILL)
      break
    time.sleep(0.01)
  run_b.wait()
  assert run_b.returncode == -signal.SIGKILL, (
      "run B ended before it could be killed; raise STEPS", run_b.stderr.read())
  killed_at = _latest_step(logdir_b)
  assert KILL_AFTER_CHECKPOINT <= killed_at < STEPS
  assert run_a.wait(timeout=240) == 0, run_a.stderr.read()
  run_a.stderr.close()
  run_b.stderr.close()

  out = run_script("train.py", *FLAGS, f"--logdir={logdir_b}")
  assert out.returncode == 0, out.stderr
  assert out.stderr == ""
  resumed = re.search(r"resuming .* \(step (\d+)\)", out.stdout)
  assert resumed and int(resumed.group(1)) >= killed_at

  # Same final step, and bit-identical variables.
  final_a = tf.train.load_checkpoint(
      os.path.join(logdir_a, "checkpoints", f"ckpt-{STEPS}"))
  final_b = tf.train.load_checkpoint(
      os.path.join(logdir_b, "checkpoints", f"ckpt-{STEPS}"))
  keys = set(final_a.get_variable_to_shape_map()) - {
      "_CHECKPOINTABLE_OBJECT_GRAPH"}
  assert keys == set(final_b.get_variable_to_shape_map()) - {
      "_CHECKPOINTABLE_OBJECT_GRAPH"}
  # Weights (saved once, under the optimizer), Adam's slots, the step (the
  # KL weight is a function of it) and the learned sigma.
  assert "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE" in keys
  assert any(k.startswith("model/likelihood/") for k in keys)
  assert sum("optimizer/_trainable_variables/" in k for k in keys) >= 10
  assert final_b.get_tensor("optimizer/_iterations/.ATTRIBUTES/"
                            "VARIABLE_VALUE") == STEPS
  differing = [k for k in sorted(keys)
               if not np.array_equal(final_a.get_tensor(k),
                                     final_b.get_tensor(k))]
  assert differing == []

  # TensorBoard: every step once, with the uninterrupted run's values.
  train_a, train_b = _events(logdir_a, "train"), _events(logdir_b, "train")
  for tag in ("loss", "neg_elbo", "rate", "distortion"):
    steps = [step for step, _ in train_b[tag]]
    assert sorted(steps) == list(range(1, STEPS + 1)), tag
    assert sorted(train_b[tag]) == sorted(train_a[tag]), tag
  validation_a = _events(logdir_a, "validation")
  validation_b = _events(logdir_b, "validation")
  for tag in ("neg_elbo", "rate", "active_units"):
    assert sorted(step for step, _ in validation_b[tag]) == [200, 400, 600]
  # Every curve, training and validation, bit for bit.
  assert set(train_a) == set(train_b)
  assert set(validation_a) == set(validation_b)
  assert "mutual_information" in validation_b
  for tag in train_a:
    assert sorted(train_b[tag]) == sorted(train_a[tag]), tag
  for tag in validation_a:
    assert sorted(validation_b[tag]) == sorted(validation_a[tag]), tag
  final_path = os.path.join(logdir_b, "final_metrics.json")
  with open(final_path, "rb") as f:
    final_bytes = f.read()
  assert _final(logdir_a) == _final(logdir_b)

  # A finished run rerun evaluates only and adds no duplicate point (in
  # process: the same trainer call as train.py's, without a TF start-up).
  from tfvae.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
  from tfvae.training import trainer  # pylint: disable=import-outside-toplevel
  printed = []
  config = ExperimentConfig.from_flat(
      steps=STEPS, checkpoint_every=100, eval_every=200, hidden_units=32,
      latent_dim=3, seed=5, verbose=0, logdir=logdir_b).validate()
  assert trainer.train(config, print_fn=printed.append)["step"] == STEPS
  assert any("already reached step 600" in line for line in printed)
  validation_b = _events(logdir_b, "validation")
  assert sorted(step for step, _ in validation_b["neg_elbo"]) == [200, 400,
                                                                  600]
  with open(final_path, "rb") as f:
    assert f.read() == final_bytes


def _final(logdir):
  with open(os.path.join(logdir, "final_metrics.json")) as f:
    final = json.load(f)
  final.pop("train_seconds")  # Wall-clock time.
  return final


def test_dynamic_binarization_replays_after_a_skip():
  """A resumed pipeline (skip(k)) yields the uninterrupted run's batches."""
  from tfvae.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
  from tfvae.data import datasets  # pylint: disable=import-outside-toplevel
  from tfvae.data import pipeline  # pylint: disable=import-outside-toplevel
  data = datasets.load_data(ExperimentConfig().validate())
  full = [b.numpy() for b in pipeline.train_dataset(
      data, 32, seed=4, binarization="dynamic").take(6)]
  resumed = [b.numpy() for b in pipeline.train_dataset(
      data, 32, seed=4, binarization="dynamic").skip(4).take(2)]
  np.testing.assert_array_equal(resumed[0], full[4])
  np.testing.assert_array_equal(resumed[1], full[5])
  assert not np.array_equal(full[0], full[1])
  assert set(np.unique(full[0])) <= {0.0, 1.0}
