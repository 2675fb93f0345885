"""Several runs trained as one group equal the same runs trained alone.

`tfvae.training.group.train_group` trains K runs on one data pipeline with
their K steps in one compiled function; each run must end with the weights,
per-step TensorBoard scalars and final metrics of the same run trained alone
by `trainer.train` at the same seed, bit for bit.
"""

import glob
import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfvae.config import ExperimentConfig
from tfvae.errors import ConfigError
from tfvae.training import group
from tfvae.training import trainer

SMALL = dict(dataset="digits", hidden_units=16, latent_dim=2, verbose=0,
             steps=40, eval_every=20, checkpoint_every=20,
             steps_per_execution=10)
# The points differ in their weighting and learning rate. Betas 0.5 and 1
# are the ones whose last bits differed when the K steps were optimised as
# one graph.
POINTS = (dict(beta=0.5), dict(beta=1.0), dict(beta=4.0, learning_rate=3e-3))


def _config(logdir, **overrides):
  return ExperimentConfig.from_flat(
      {**SMALL, **overrides, "logdir": str(logdir)}).validate()


def _scalars(logdir):
  from tensorboard.compat.proto import event_pb2  # pylint: disable=import-outside-toplevel
  out = {}
  for path in glob.glob(os.path.join(logdir, "*", "events.out.*")):
    for record in tf.data.TFRecordDataset(path):
      event = event_pb2.Event.FromString(record.numpy())
      for value in event.summary.value:
        if value.metadata.plugin_data.plugin_name == "scalars":
          out[(path.split(os.sep)[-2], value.tag, event.step)] = float(
              tf.make_ndarray(value.tensor))
  return out


def _variables(logdir):
  reader = tf.train.load_checkpoint(os.path.join(logdir, "checkpoints"))
  return {key: reader.get_tensor(key)
          for key in reader.get_variable_to_shape_map()
          if key.startswith(("model/", "optimizer/"))}


def test_group_key_and_partition():
  a = _config("a", beta=1.0)
  b = _config("b", beta=2.0, learning_rate=1e-2, likelihood="bernoulli")
  c = _config("c", beta=2.0, batch_size=32)
  assert group.group_key(a) == group.group_key(b) != group.group_key(c)
  assert group.partition([a, b, c, a, b], 2) == [[0, 1], [2], [3, 4]]
  with pytest.raises(ConfigError, match="batch_size"):
    group.check_groupable([a, c])
  with pytest.raises(ConfigError, match="distinct logdirs"):
    group.check_groupable([a, a])


def test_grouped_runs_equal_runs_trained_alone(tmp_path):
  alone = []
  for k, point in enumerate(POINTS):
    alone.append(trainer.train(_config(tmp_path / f"alone{k}", **point),
                               print_fn=lambda *a: None))
  configs = [_config(tmp_path / f"group{k}", **point)
             for k, point in enumerate(POINTS)]
  grouped = group.train_group(configs,
                              print_fns=[lambda *a: None] * len(POINTS))
  for k in range(len(POINTS)):
    assert isinstance(grouped[k], dict), grouped[k]
    for key in trainer.FINAL_KEYS + ("kl_weight", "beta_eff", "step"):
      assert grouped[k][key] == alone[k][key], key
    lone_scalars = _scalars(str(tmp_path / f"alone{k}"))
    group_scalars = _scalars(str(tmp_path / f"group{k}"))
    assert group_scalars.keys() == lone_scalars.keys()
    assert {s for _, tag, s in group_scalars if tag == "loss"} >= set(
        range(1, 41))
    assert group_scalars == lone_scalars
    lone_vars = _variables(str(tmp_path / f"alone{k}"))
    group_vars = _variables(str(tmp_path / f"group{k}"))
    assert group_vars.keys() == lone_vars.keys()
    for key, value in lone_vars.items():
      np.testing.assert_array_equal(group_vars[key], value, err_msg=key)
  # The points trained differently: the comparison is not vacuous.
  assert grouped[0]["rate"] != pytest.approx(grouped[2]["rate"], rel=1e-3)


def test_sweep_groups_small_models_by_default():
  from tfvae.analysis import sweep_group  # pylint: disable=import-outside-toplevel
  mlp = [_config(f"m{k}", beta=k + 1.0) for k in range(3)]
  conv = _config("c", architecture="conv", dataset="dsprites")
  assert sweep_group.group_size(0, mlp * 4) == sweep_group.AUTO_GROUP_SIZE > 1
  assert sweep_group.group_size(0, mlp) == 3  # All in one group.
  assert sweep_group.group_size(0, mlp + [conv]) == 1
  assert sweep_group.group_size(3, [conv]) == 3
  assert sweep_group.group_size(1, mlp) == 1
  # Spread over a Ray cluster's task slots: 12 points on 4 slots, 3 each.
  assert sweep_group.group_size(0, mlp * 4, slots=4) == 3
  assert sweep_group.group_size(0, mlp * 20, slots=2) == \
      sweep_group.AUTO_GROUP_SIZE


def _points(tmp_path, betas):
  from tfvae.analysis import sweep  # pylint: disable=import-outside-toplevel
  points = sweep.plan_points(str(tmp_path / "sweep"), [],
                             [("beta", [str(b) for b in betas])], [])
  for point in points:
    point.config = _config(point.logdir, beta=float(point.values["beta"]),
                           steps=4, eval_every=4, checkpoint_every=4,
                           steps_per_execution=2)
  return points


def test_group_process_trains_and_evaluates_its_points(tmp_path):
  # pylint: disable=import-outside-toplevel
  from tfvae.analysis import engines, sweep_group
  from tfvae.evaluation import EvaluationOptions
  points = _points(tmp_path, (0.5, 2))
  paths = {p.name: (str(tmp_path / f"{p.name}.json"), None) for p in points}
  lines = []
  trained, evaluated = sweep_group.train_grouped(
      points, 8, str(tmp_path / "logs"), engines.LocalEngine(jobs=2),
      options=EvaluationOptions(iw_samples=5, elbo_samples=2),
      evaluation_paths=paths, print_fn=lines.append)
  assert [trained[p.name].ok for p in points] == [True, True], trained
  assert evaluated == {p.name for p in points}
  assert lines[0].startswith("[1/1] group_0: trained"), lines
  assert lines[1:] == [f"{p.name}: trained (group_0, 2 point(s))"
                       for p in points]
  for point in points:
    assert os.path.exists(os.path.join(point.logdir, "final_metrics.json"))
    evaluation = json.loads(open(paths[point.name][0]).read())
    assert evaluation["iw_samples"] == 5 and evaluation["step"] == 4
    log = (tmp_path / "logs" / f"{point.name}.log").read_text()
    assert "trained in one process with: beta_0.5, beta_2" in log


def test_group_process_that_dies_fails_its_points(tmp_path, monkeypatch):
  # pylint: disable-next=import-outside-toplevel
  from tfvae.analysis import engines, sweep_group
  monkeypatch.setattr(sweep_group, "GROUP_COMMAND",
                      (sys.executable, "-c", "import sys; sys.exit(3)"))
  points = _points(tmp_path, (1, 2, 4))
  trained, evaluated = sweep_group.train_grouped(
      points, 2, str(tmp_path / "logs"), engines.LocalEngine(jobs=2),
      print_fn=lambda line: None)
  assert not evaluated
  for point in points:
    assert not trained[point.name].ok
    assert "exit 3" in trained[point.name].message
    assert "group_" in trained[point.name].message
