"""The README's two commands: CI runs the test one; the train one really trains."""

import json
import os
import re
import subprocess

import pytest

from conftest import ROOT


def readme_commands():
  with open(os.path.join(ROOT, "README.md")) as f:
    text = f.read()
  block = re.search(r"## Two commands.*?```sh\n(.*?)```", text, re.S).group(1)
  return [line.split("#")[0].strip() for line in block.splitlines()
          if line.strip()]


def test_readme_names_exactly_a_train_and_a_test_command():
  assert readme_commands() == ["make train", "make test"]


def test_ci_runs_the_readme_test_command():
  with open(os.path.join(ROOT, ".ci", "run")) as f:
    script = [l.strip() for l in f if l.strip() and not l.startswith("#")]
  assert "make test" in script


@pytest.mark.skipif(
    not os.path.exists(os.path.join(ROOT, ".venv", ".installed")),
    reason="needs the .venv that `make test` creates")
def test_readme_train_command_trains_the_default_preset(tmp_path):
  logdir = tmp_path / "default"
  out = subprocess.run(
      ["make", "--no-print-directory", "train",
       f"ARGS=--steps=40 --eval_every=20 --logdir={logdir}"],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
  assert "final validation metrics (digits" in out.stdout
  with open(logdir / "final_metrics.json") as f:
    final = json.load(f)
  assert final["step"] == 40 and final["dataset"] == "digits"
  with open(logdir / "config.json") as f:
    assert json.load(f)["model"]["sigma"] == "learned"
