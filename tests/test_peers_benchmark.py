"""benchmarks/peers.py without torch: its help, argument checks and maths.

The benchmark's peer rows need torch and pythae (requirements-peers.txt),
which tfvae's environment does not have; these checks must work without
them and without starting TensorFlow.
"""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import integrate
from scipy import stats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import peers  # pylint: disable=wrong-import-position


def run_peers(*args):
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, "benchmarks", "peers.py"), *args],
      capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)


def test_help_works_without_torch():
  done = run_peers("--help")
  assert done.returncode == 0, done.stderr
  assert "--peer_python" in done.stdout and "--quick" in done.stdout


@pytest.mark.parametrize("args, named", [
    (("--repeats=0",), "--repeats"),
    (("--workloads=digits,mnist",), "--workloads"),
    (("--systems=pytorch,jax",), "--systems"),
    (("--peer_python=/no/such/python",), "--peer_python"),
])
def test_bad_arguments_fail_in_one_line_naming_the_argument(args, named):
  done = run_peers(*args)
  assert done.returncode == 2
  last = done.stderr.strip().splitlines()[-1]
  assert named in last, done.stderr


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None,
                    reason="this interpreter has torch")
def test_missing_torch_says_how_to_install_the_peers():
  done = run_peers("--systems=pytorch")
  assert done.returncode == 2
  last = done.stderr.strip().splitlines()[-1]
  assert "requirements-peers.txt" in last and "--peer_python" in last


def test_neg_elbo_matches_scipy():
  rng = np.random.default_rng(0)
  x = (rng.uniform(size=(3, 5)) < 0.5).astype(np.float64)
  logits = rng.normal(size=(3, 5)) * 3
  mean = rng.normal(size=(3, 2))
  log_var = rng.normal(size=(3, 2))
  probs = 1 / (1 + np.exp(-logits))
  rec = -stats.bernoulli.logpmf(x, probs).sum(axis=1)

  def kl(m, v):  # KL(N(m, v) || N(0, 1)) by quadrature
    q = stats.norm(m, np.sqrt(v))
    return integrate.quad(lambda z: q.pdf(z) * (q.logpdf(z) -
                                                 stats.norm.logpdf(z)),
                          -30, 30)[0]

  kls = [sum(kl(m, np.exp(lv)) for m, lv in zip(ms, lvs))
         for ms, lvs in zip(mean, log_var)]
  expected = np.mean(rec + np.array(kls))
  got = peers.neg_elbo(x, mean, log_var,
                       *peers.bernoulli_log_probs_from_logits(logits))
  assert got == pytest.approx(expected, rel=1e-6)
  from_probs = peers.neg_elbo(x, mean, log_var,
                              *peers.bernoulli_log_probs_from_probs(probs))
  assert from_probs == pytest.approx(expected, rel=1e-5)


def test_timed_rate_leaves_out_the_warm_up():
  # Steps end at t = 10 (a slow first step), then every 0.5 s.
  times = [10.0 + 0.5 * i for i in range(5)]
  assert peers.timed_rate(times, 1, 64) == pytest.approx(4 * 64 / 2.0)
  by_step = {s + 1: t for s, t in enumerate(times)}
  assert peers.timed_rate(by_step, 2, 64) == pytest.approx(3 * 64 / 1.5)
  with pytest.raises(ValueError):
    peers.timed_rate(times, 5, 64)
  # Several steps per call: the timing starts at the first call's end at or
  # after the warm-up.
  by_call = {29: 1.0, 58: 2.0, 87: 3.0}
  assert peers.timed_rate(by_call, 10, 64) == pytest.approx(58 * 64 / 2.0)
  with pytest.raises(ValueError):
    peers.timed_rate(by_call, 60, 64)


def test_workload_steps_are_whole_epochs_and_whole_cli_calls():
  for workload in peers.WORKLOADS.values():
    for quick in (False, True):
      train, steps, warmup = workload.sizes(quick)
      assert train % workload.batch == 0
      assert (steps * workload.batch) % train == 0
      assert 0 < warmup < steps
      if "tfvae_cli" in workload.systems:
        assert warmup % np.gcd(50, steps) == 0
