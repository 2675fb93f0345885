"""tfvae.runs: atomic files, JSON readers, versions and checkpoint lookup."""

import json
import os

import pytest

from tfvae.config import ExperimentConfig
from tfvae.errors import ConfigError
from tfvae.runs import checkpoint_files as checkpoints, files, paths, rundir, versions


def test_atomic_write_leaves_no_temporary_and_keeps_old_file_on_error(
    tmp_path):
  path = tmp_path / "sub" / "a.json"
  files.write_json(str(path), {"b": 1, "a": float("nan")})
  assert json.loads(path.read_text()) == {"a": None, "b": 1}
  with pytest.raises(RuntimeError):
    with files.atomic_path(str(path)) as tmp:
      with open(tmp, "w") as f:
        f.write("half")
      raise RuntimeError("killed")
  assert json.loads(path.read_text()) == {"a": None, "b": 1}
  assert os.listdir(tmp_path / "sub") == ["a.json"]


def test_json_readers(tmp_path):
  bad = tmp_path / "bad.json"
  bad.write_text("{not json")
  assert files.read_json_or_none(str(bad)) is None
  assert files.read_json_or_none(str(tmp_path / "missing.json")) is None
  with pytest.raises(ConfigError, match="bad.json: cannot read the thing"):
    files.read_json_or_fail(str(bad), "the thing")


def test_versions(tmp_path):
  for name in ("1", "3", "x", ".tmp-export-1-ab"):
    os.makedirs(tmp_path / name)
  (tmp_path / "7").write_text("a file, not a version")
  assert versions.existing_versions(str(tmp_path)) == [1, 3]
  assert versions.next_version(str(tmp_path)) == 4
  with pytest.raises(ConfigError, match="no saved_model.pb"):
    versions.resolve_saved_model(str(tmp_path))
  (tmp_path / "1" / "saved_model.pb").write_bytes(b"")
  assert versions.resolve_saved_model(str(tmp_path)) == str(tmp_path / "1")


def _run_dir(tmp_path, steps, state=None):
  logdir = tmp_path / "run"
  os.makedirs(logdir / "checkpoints")
  (logdir / "config.json").write_text("{}")
  for step in steps:
    (logdir / "checkpoints" / f"ckpt-{step}.index").write_bytes(b"")
  if state:
    (logdir / "checkpoints" / "checkpoint").write_text(
        f'model_checkpoint_path: "{state}"\n')
  return logdir


def test_checkpoint_lookup(tmp_path):
  logdir = _run_dir(tmp_path, [2, 10, 4], state="ckpt-4")
  prefix = str(logdir / "checkpoints" / "ckpt-4")  # The state file's choice.
  assert checkpoints.find_checkpoint(str(logdir)) == (str(logdir), prefix)
  assert checkpoints.latest_checkpoint(str(logdir)) == prefix
  assert checkpoints.step_of(prefix) == 4
  (logdir / "checkpoints" / "checkpoint").unlink()
  # Without the state file: the highest number.
  assert checkpoints.latest_in(str(logdir / "checkpoints")).endswith("ckpt-10")
  with pytest.raises(ConfigError, match="no such run directory") as info:
    checkpoints.find_checkpoint(str(logdir / "checkpoints" / "ckpt-99"))
  assert info.value.params == ("checkpoint",)


def test_a_flat_config_of_an_older_run_resumes(tmp_path):
  """A flat config.json without the newer settings is the same run."""
  config = ExperimentConfig.from_flat(logdir=str(tmp_path), latent_dim=3)
  old = {k: v for k, v in config.to_flat().items() if k != "gaussian_mean"}
  assert rundir.differing_keys(old, config) == []
  assert rundir.differing_keys(dict(old, latent_dim=4), config) == [
      "latent_dim"]
  # Where the run logs or how long it trains is not a different run.
  assert rundir.differing_keys(dict(old, steps=5, logdir="elsewhere"),
                               config) == []


@pytest.mark.parametrize("saved,now,differs", [
    ("none", "auto", False),
    ("none", "mixed_bfloat16", False),  # same checkpoint: float32 variables
    ("auto", "none", False),
    ("none", "mixed_float16", True),    # float16 adds a loss scale
    ("mixed_float16", "auto", True),
])
def test_a_run_resumes_in_a_precision_with_the_same_checkpoint(saved, now,
                                                               differs):
  config = ExperimentConfig.from_flat(mixed_precision=now)
  old = ExperimentConfig.from_flat(mixed_precision=saved).to_flat()
  expected = ["mixed_precision"] if differs else []
  assert rundir.differing_keys(old, config) == expected


def test_prepare_writes_the_nested_config(tmp_path):
  logdir = tmp_path / "r"
  config = ExperimentConfig.from_flat(logdir=str(logdir), latent_dim=3)
  assert rundir.prepare(config) is False
  saved = json.loads((logdir / paths.CONFIG_FILE).read_text())
  assert saved["model"]["latent_dim"] == 3
  assert rundir.read_config(str(logdir)) == config
  assert rundir.check(config) is True  # Same config: resumes.
  other = config.replace_flat(latent_dim=4)
  with pytest.raises(ConfigError, match=r"differs in: latent_dim"):
    rundir.check(other)


def test_the_run_directory_readers_need_no_tensorflow():
  """The weighting translator reads runs through `tfvae.runs.rundir`."""
  import subprocess  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel
  from conftest import ROOT  # pylint: disable=import-outside-toplevel
  code = ("import sys; import tfvae.runs.rundir, tfvae.runs.restore; "
          "print('tensorflow' in sys.modules)")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, cwd=ROOT, timeout=120,
                       env=dict(os.environ, PYTHONPATH=ROOT))
  assert out.returncode == 0, out.stderr
  assert out.stdout.strip() == "False"


def test_final_metrics_reader_strict_and_tolerant(tmp_path):
  logdir = str(tmp_path)
  assert rundir.read_final_metrics(logdir, strict=True) is None
  with open(paths.final_metrics_path(logdir), "w") as f:
    f.write("{cut short")
  assert rundir.read_final_metrics(logdir) is None
  with pytest.raises(ConfigError, match="cannot read the run's final metrics"):
    rundir.read_final_metrics(logdir, strict=True)


def test_restore_run_model_rebuilds_and_restores_a_checkpoint(tmp_path):
  """The model comes back with the saved weights and step; a checkpoint of
  another architecture is one CheckpointError."""
  # pylint: disable=import-outside-toplevel
  import keras
  import numpy as np
  from tfvae.errors import CheckpointError
  from tfvae.models.factory import build_model_for_run
  from tfvae.runs import checkpoints as tf_checkpoints
  from tfvae.runs import restore
  config = ExperimentConfig.from_flat(dict(
      dataset="digits", latent_dim=3, hidden_units=16, seed=4)).validate()
  spec = {"image_shape": [8, 8, 1], "support": "unit", "num_train": 100}
  keras.utils.set_random_seed(4)
  model = build_model_for_run(config, spec)
  model.compile(optimizer=keras.optimizers.Adam(1e-3))
  tf_checkpoints.build_optimizer(model)
  model.optimizer.iterations.assign(7)
  directory = str(tmp_path / "checkpoints")
  manager = tf_checkpoints.make_manager(model, directory, 1)
  manager.save(checkpoint_number=7)
  keras.utils.set_random_seed(5)  # Other initial weights before the restore.
  restored = restore.restore_run_model(config, spec, directory,
                                       optimizer=True)
  assert restored.step == 7 and restored.checkpoint.endswith("ckpt-7")
  assert int(restored.model.optimizer.iterations.numpy()) == 7
  for saved, back in zip(model.weights, restored.model.weights):
    np.testing.assert_array_equal(saved.numpy(), back.numpy())
  plain = restore.restore_run_model(config, spec, restored.checkpoint)
  assert getattr(plain.model, "optimizer", None) is None and plain.step == 7
  wider = config.replace_flat(hidden_units=8).validate()
  with pytest.raises(CheckpointError, match="does not fit this model"):
    restore.restore_run_model(wider, spec, directory)
