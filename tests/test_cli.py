"""scripts/train.py end to end, the presets, and one-line errors."""

import glob
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, run_script
from tfvae.config.data import BUILTIN_DATASETS

PRESETS = sorted(glob.glob(os.path.join(ROOT, "scripts", "flags", "*.flags")))

# Every preset parsed by the command line's own parser in one process (one
# TensorFlow start-up); the flags are reset to their defaults between presets
# so no value leaks from one flagfile into the next.
VALIDATE = """
import json, sys
from tfvae.cli import flags
flags.define_config_flags()
out = {}
for path in sys.argv[1:]:
  flags.FLAGS.unparse_flags()
  flags.parse(["train.py", "--flagfile=" + path])
  out[path] = flags.config_from_flags().to_flat()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def preset_configs():
  out = subprocess.run([sys.executable, "-c", VALIDATE, *PRESETS],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert out.returncode == 0, out.stderr[-3000:]
  return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("path", PRESETS, ids=os.path.basename)
def test_every_preset_is_a_valid_config_with_a_comment(path, preset_configs):
  with open(path) as f:
    first = f.readline()
  assert first.startswith("#"), "each preset starts with a comment"
  config = preset_configs[path]
  # Offline data only (the KL-parts presets use the procedural dSprites,
  # the new likelihoods' presets the generated shapes_rgb and mixed_table).
  assert config["dataset"] in BUILTIN_DATASETS


def test_presets_do_not_leak_into_each_other(preset_configs):
  """The shared parser resets between presets: a preset's config is the one
  it has when parsed alone."""
  alone = subprocess.run(
      [sys.executable, "-c", VALIDATE, PRESETS[-1]], capture_output=True,
      text=True, timeout=300, cwd=ROOT)
  assert alone.returncode == 0, alone.stderr[-3000:]
  assert json.loads(alone.stdout.strip().splitlines()[-1])[PRESETS[-1]] == (
      preset_configs[PRESETS[-1]])
  assert len({json.dumps(c, sort_keys=True)
              for c in preset_configs.values()}) == len(PRESETS)


def test_presets_state_only_what_differs_from_the_defaults():
  """The defaults have one home, the config: a preset line that restates
  one would hide a change of the default from the preset's reader."""
  from tfvae.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
  defaults = ExperimentConfig().to_flat()
  restated = []
  for path in PRESETS:
    with open(path) as f:
      for line in f:
        name, _, text = line.strip()[2:].partition("=")
        if not line.startswith("--") or name not in defaults:
          continue
        default = defaults[name]
        if isinstance(default, bool):
          same = (text.lower() in ("true", "1")) == default
        elif isinstance(default, (int, float)):
          same = float(text) == float(default)
        else:
          same = text == str(default)
        if same:
          restated.append(f"{os.path.basename(path)}: {line.strip()}")
  assert not restated, restated


def test_question_mean_mean_preset_is_beta_norm_point_one(tmp_path):
  """The question's normalised 0.1 weight is reported as beta_norm 0.1."""
  logdir = str(tmp_path / "mm")
  out = run_script("train.py",
                   "--flagfile=scripts/flags/question_mean_mean_0.1.flags",
                   "--steps=20", "--eval_every=20", f"--logdir={logdir}",
                   "--verbose=0")
  assert out.returncode == 0, out.stderr
  with open(os.path.join(logdir, "final_metrics.json")) as f:
    final = json.load(f)
  assert final["beta_norm"] == pytest.approx(0.1, rel=1e-5)
  assert final["beta_eff"] == pytest.approx(0.1 * 64 / 8, rel=1e-5)
  assert final["kl_weight"] == pytest.approx(0.1, rel=1e-5)
  # sigma^2 = 1/2: the Gaussian NLL is the SSE, so SSE units = ELBO units.
  assert final["beta_sse_units"] == pytest.approx(final["beta_eff"], rel=1e-5)
  assert "beta_norm" in out.stdout and "effective beta" in out.stdout


def test_train_script_reference_bce_end_to_end(tmp_path):
  logdir = str(tmp_path / "bce")
  out = run_script("train.py", "--model=reference", "--reference_rec=bce",
                   "--steps=30", "--eval_every=15", f"--logdir={logdir}")
  assert out.returncode == 0, out.stderr
  assert "final validation metrics" in out.stdout
  assert os.path.isfile(os.path.join(logdir, "final_metrics.json"))
  assert os.path.isfile(os.path.join(logdir, "config.json"))
  assert glob.glob(os.path.join(logdir, "checkpoints", "ckpt-30*"))


