"""The README's Python blocks and the examples in docs/examples/ run (small sizes)."""

import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT


def python_blocks():
  """The ```python blocks of the README's Python API section."""
  with open(os.path.join(ROOT, "README.md")) as f:
    text = f.read()
  section = re.search(r"\n## Python API.*?(?=\n## )", text, re.S).group(0)
  return re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_python_blocks_run(tmp_path, monkeypatch):
  blocks = python_blocks()
  assert blocks, "the README has a Python quickstart"
  monkeypatch.chdir(tmp_path)
  namespace = {}
  for block in blocks:
    exec(compile(block, "README.md", "exec"), namespace)  # pylint: disable=exec-used


def run_example(name, *args):
  out = subprocess.run([sys.executable,
                        os.path.join(ROOT, "docs", "examples", name), *args],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
  assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
  return out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["calibrated", "annealed"])
def test_keras_example_variants(variant):
  out = run_example("keras_vae_example.py", f"--variant={variant}",
                    "--epochs=2", "--examples=256", "--warmup_steps=2")
  assert f"{variant}: -ELBO" in out
  if variant == "calibrated":
    assert "learned sigma" in out
  else:
    assert "KL weight at the last step: beta_eff 1," in out


@pytest.mark.slow
def test_sequence_example():
  out = run_example("sequence_vae.py", "--epochs=2", "--examples=256")
  assert "mean: identity" in out
  assert out.count("factor ") == 3


def test_tabular_example():
  out = run_example("tabular_vae.py", "--epochs=3")
  assert "'mean/mean, weight 0.1' is beta_norm 0.1 = beta_eff 0.6" in out
