"""Sweeps on Ray: same numbers as the local engine, retries, reruns, ASHA.

The Ray tests start Ray on this machine only (loopback, 2 CPUs, no dashboard)
through `scripts/sweep.py --engine=ray`, which shuts it down at the end; each
sweep is bounded by a subprocess timeout.

- A 2x2 grid (beta x seed) on digits trains to the same sweep.csv, number for
  number, with --engine=local (one group process of 4) and --engine=ray (two
  groups of 2, one task each: one per CPU), although the Ray worker of one
  point's group is killed (SIGKILL) once that point's first checkpoint is on
  disk: Ray retries the task and the group process resumes its points from
  their checkpoints (resuming is bit-exact, tests/test_resume.py). Rerunning
  the same sweep trains nothing. The same grid with --group=1 trains one
  `train.py` per point on Ray, to the same numbers.
- ASHA on two points run one after the other, the second with a learning rate
  10^4 times smaller: at the first evaluation its -ELBO is far worse than the
  first point's at that step, so ASHA stops it there; its row says
  stopped_early and its step is that evaluation's. (Tune starts the trials
  in grid order.)
- Ctrl-C (SIGINT to the sweep) while a second point trains: exit 130, the
  finished point's files unchanged, no training process left.
- One run across two Ray Train workers (MultiWorkerMirroredStrategy from
  the TF_CONFIG Ray Train sets) reaches its last step with the same numbers
  on both workers (tests/ray_multi_worker_check.py).
"""

import csv
import os
import signal
import sys
import types

import pytest

from conftest import run_script
from tfvae.analysis import engines
from tfvae.analysis import sweep_runner
from tfvae.errors import ConfigError

TIMEOUT = 480
TINY = ["--dataset=digits", "--hidden_units=32", "--latent_dim=4",
        "--steps=60", "--eval_every=30", "--checkpoint_every=30",
        "--verbose=0", "--iw_samples=0"]
GRID = ["--grid=beta=0.5,2", "--grid=seed=0,1"]
POINTS = ["beta_0.5-seed_0", "beta_0.5-seed_1", "beta_2-seed_0",
          "beta_2-seed_1"]


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def test_evaluation_line_is_parsed():
  # As printed by an evaluation of train.py (copied from a run's log).
  line = ("step 30: validation -ELBO 62.282 nats (1.4040 bits/dim), rate "
          "0.057, distortion 62.225, active units 3/4 [10s]\n")
  match = engines.EVALUATION_LINE.match(line)
  assert (int(match.group(1)), float(match.group(2))) == (30, 62.282)
  match = engines.EVALUATION_LINE.match("step 5: validation -ELBO -3.5e+01 "
                                        "nats (...)")
  assert float(match.group(2)) == -35.0
  assert engines.EVALUATION_LINE.match("resuming x from y (step 30)") is None


def _training(tmp_path, code):
  return engines.Training("p", [sys.executable, "-c", code],
                          str(tmp_path / "logs" / "p.log"), str(tmp_path / "p"))


def test_run_point_reports_evaluations_and_failures(tmp_path):
  seen = []
  code = ("print('hello'); print('step 10: validation -ELBO 7.5 nats (x)'); "
          "print('step 20: validation -ELBO 6.25 nats (x)')")
  result = engines.run_point(_training(tmp_path, code),
                             on_evaluation=lambda *a: seen.append(a))
  assert result.ok and seen == [(10, 7.5), (20, 6.25)]
  log = (tmp_path / "logs" / "p.log").read_text()
  assert log.startswith("$ ") and "hello\n" in log

  result = engines.run_point(_training(tmp_path, "raise SystemExit(3)"))
  assert not result.ok and "exit 3" in result.message
  # Death by a signal is an infrastructure fault: raised, so Ray retries.
  with pytest.raises(engines.PointKilled, match="signal"):
    engines.run_point(_training(
        tmp_path, f"import os; os.kill(os.getpid(), {int(signal.SIGKILL)})"))


def test_make_engine_checks_its_arguments(monkeypatch):
  assert isinstance(engines.make_engine("local", jobs=2), engines.LocalEngine)
  with pytest.raises(ConfigError, match="needs --engine=ray"):
    engines.make_engine("local", scheduler="asha")
  with pytest.raises(ConfigError, match="engine must be one of"):
    engines.make_engine("dask")
  # ASHA judges points one by one: no groups.
  asha = types.SimpleNamespace(trains_groups=False, scheduler="asha")
  spec = sweep_runner.SweepSpec(grids=["beta=1,2"], engine=asha)
  assert spec.validate() is spec
  spec.group = 2
  with pytest.raises(ConfigError, match="group=2 cannot be used with "
                     "scheduler=asha"):
    spec.validate()
  monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails.
  with pytest.raises(ConfigError, match=r"pip install 'tfvae\[ray\]'"):
    engines.make_engine("ray")

  # Groups per task slot: a Ray instance started here has num_cpus; a
  # running one (or a cluster) says how many CPUs it has.
  class FakeRay:
    initialized = False
    def is_initialized(self):
      return self.initialized
    def cluster_resources(self):
      return {"CPU": 16.0}
  fake = FakeRay()
  monkeypatch.setattr(engines, "import_ray", lambda: fake)
  engine = engines.RayEngine(num_cpus=4, cpus_per_run=2)
  assert engine.group_slots() == 2 and engine.trains_groups
  fake.initialized = True
  assert engine.group_slots() == 8
  assert not engines.RayEngine(scheduler="asha").trains_groups
  assert engines.LocalEngine(jobs=4).group_slots() == 1


def test_missing_ray_is_one_line_and_exit_two(tmp_path):
  fake = tmp_path / "no_ray"
  (fake / "ray").mkdir(parents=True)
  (fake / "ray" / "__init__.py").write_text(
      "raise ImportError(\"No module named 'ray'\")\n")
  sweep_dir = tmp_path / "sweep"
  path = os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")])
  proc = run_script("sweep.py", "--engine=ray", "--grid=beta=1,2",
                    f"--sweep_dir={sweep_dir}", env={"PYTHONPATH": path})
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = [l for l in proc.stderr.splitlines() if l.startswith("sweep.py:")]
  assert len(lines) == 1 and "pip install 'tfvae[ray]'" in lines[0], lines
  assert not sweep_dir.exists()


@pytest.mark.slow
def test_ray_sweep_equals_local_with_a_killed_worker(tmp_path):
  local, ray = tmp_path / "local", tmp_path / "ray"
  proc = run_script("sweep.py", *TINY, *GRID, "--jobs=2",
                    f"--sweep_dir={local}", timeout=TIMEOUT)
  assert proc.returncode == 0, proc.stderr[-3000:]

  killed = tmp_path / "killed"
  fault = {engines.FAULT_ENV: f"{POINTS[1]}:{killed}"}
  proc = run_script("sweep.py", *TINY, *GRID, "--engine=ray",
                    "--max_retries=2", f"--sweep_dir={ray}", env=fault,
                    timeout=TIMEOUT)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert killed.exists()  # The fault happened.
  assert "training 4 point(s) in 2 group(s) on a Ray instance" in proc.stdout
  for name in POINTS:
    assert f"{name}: trained" in proc.stdout, proc.stdout
  log = (ray / "logs" / f"{POINTS[1]}.log").read_text()
  assert log.count("$ ") == 2  # Started twice: retried by Ray ...
  assert "resuming" in log     # ... and resumed from its checkpoint.

  local_rows = read_csv(local / "sweep.csv")
  ray_rows = read_csv(ray / "sweep.csv")
  assert [r["name"] for r in ray_rows] == POINTS
  assert ray_rows == local_rows  # Every number, at full precision.
  assert (ray / "rd_plane.png").exists() and os.listdir(ray / "hparams")
  assert "status" not in ray_rows[0]

  # The same command again: nothing trains (Ray is not even started).
  proc = run_script("sweep.py", *TINY, *GRID, "--engine=ray",
                    f"--sweep_dir={ray}", timeout=TIMEOUT)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "trained" not in proc.stdout
  for name in POINTS:
    assert f"{name}: up to date" in proc.stdout

  # One train.py per point on Ray: the same numbers again.
  lone = tmp_path / "lone"
  proc = run_script("sweep.py", *TINY, "--grid=beta=2", "--grid=seed=0,1",
                    "--engine=ray", "--group=1", f"--sweep_dir={lone}",
                    timeout=TIMEOUT)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "training 2 point(s) on a Ray instance" in proc.stdout
  assert read_csv(lone / "sweep.csv") == local_rows[2:]


@pytest.mark.slow
def test_asha_stops_a_bad_point_early(tmp_path):
  sweep_dir = tmp_path / "asha"
  # Two CPUs per point on a 2-CPU instance: the points run one after the
  # other, so the bad one meets the good one's result at its first rung.
  proc = run_script(
      "sweep.py", "--dataset=digits", "--hidden_units=32", "--latent_dim=4",
      "--steps=90", "--eval_every=30", "--checkpoint_every=30",
      "--verbose=0", "--iw_samples=0",
      "--grid=learning_rate=0.001,0.0000001", "--engine=ray",
      "--scheduler=asha", "--cpus_per_run=2", f"--sweep_dir={sweep_dir}",
      timeout=TIMEOUT)
  assert proc.returncode == 0, proc.stderr[-3000:]
  good, bad = read_csv(sweep_dir / "sweep.csv")
  assert good["name"] == "learning_rate_0.001" and good["status"] == ""
  assert int(good["step"]) == 90
  assert bad["status"] == engines.STOPPED_STATUS and int(bad["step"]) < 90
  assert float(bad["neg_elbo"]) > float(good["neg_elbo"])
  assert "| stopped_early |" in (sweep_dir / "sweep.md").read_text()
  assert engines.point_status(str(sweep_dir / bad["name"])) == "stopped_early"


@pytest.mark.slow
def test_one_run_across_two_ray_workers(tmp_path):
  import json  # pylint: disable=import-outside-toplevel
  import subprocess  # pylint: disable=import-outside-toplevel
  from conftest import ROOT  # pylint: disable=import-outside-toplevel
  logdir = tmp_path / "run"
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "tests", "ray_multi_worker_check.py"),
       str(logdir)], capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)
  assert proc.returncode == 0, proc.stderr[-3000:]
  final = json.loads(proc.stdout.strip().splitlines()[-1])
  assert final["step"] == 10
  chief = json.loads((logdir / "final_metrics.json").read_text())
  other = json.loads((tmp_path / "run.worker1" / "final_metrics.json")
                     .read_text())
  # One run: both workers end with the same all-reduced weights, hence the
  # same exact validation numbers.
  assert chief["neg_elbo"] == other["neg_elbo"] == final["neg_elbo"]
  config = json.loads((logdir / "config.json").read_text())
  # Flat, or nested in sections.
  flat = dict(config)
  for section in config.values():
    if isinstance(section, dict):
      flat.update(section)
  assert flat["strategy"] == "multi_worker" and flat["batch_size"] == 32


@pytest.mark.slow
def test_ctrl_c_cancels_and_keeps_finished_points(tmp_path):
  import subprocess  # pylint: disable=import-outside-toplevel
  import time  # pylint: disable=import-outside-toplevel
  import psutil  # pylint: disable=import-outside-toplevel
  from conftest import ROOT  # pylint: disable=import-outside-toplevel
  sweep_dir = tmp_path / "s"
  # Two CPUs per point on a 2-CPU instance: one point after the other; the
  # short one finishes, the long one is interrupted (20000 steps: long enough
  # that it cannot finish between its first checkpoint and the interrupt).
  args = [sys.executable, os.path.join(ROOT, "scripts", "sweep.py"),
          *[a for a in TINY if not a.startswith("--steps")],
          "--grid=steps=60,20000", "--engine=ray", "--cpus_per_run=2",
          f"--sweep_dir={sweep_dir}"]
  done = sweep_dir / "steps_60" / "final_metrics.json"
  running = sweep_dir / "steps_20000" / "checkpoints" / "checkpoint"
  proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT)
  try:
    deadline = time.time() + TIMEOUT
    while not (done.exists() and running.exists()):
      assert proc.poll() is None, proc.communicate()[1][-3000:]
      assert time.time() < deadline
      time.sleep(0.5)
    finished = done.read_text()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == 130, err[-3000:]
  assert "sweep.py: error: interrupted" in err
  assert done.read_text() == finished  # The finished point is intact.
  assert not (sweep_dir / "steps_20000" / "final_metrics.json").exists()
  time.sleep(2)
  # No training process survived the interrupt.
  left = [p.pid for p in psutil.process_iter(["cmdline"])
          if str(sweep_dir) in " ".join(p.info["cmdline"] or [])]
  assert not left
