"""Test set-up: quiet TensorFlow, make the repo importable, share small helpers."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

import pytest  # pylint: disable=wrong-import-position


@pytest.fixture(scope="session")
def repo_root():
  return ROOT


def run_script(script, *args, timeout=600, env=None, cwd=None):
  """Runs `python scripts/<script> args...`; returns the CompletedProcess."""
  import subprocess  # pylint: disable=import-outside-toplevel
  full_env = dict(os.environ)
  # The scripts import the checkout's tfvae also when it is not installed.
  full_env["PYTHONPATH"] = os.pathsep.join(
      p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
  full_env.update(env or {})
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", script), *args],
      capture_output=True, text=True, timeout=timeout, env=full_env,
      cwd=cwd or ROOT)
