"""Wall time of a beta sweep against one run of the same preset.

    python benchmarks/sweep_wall.py                      # grouped sweep vs one run
    python benchmarks/sweep_wall.py --ungrouped          # + one process per point
    python benchmarks/sweep_wall.py --repeats=3 --betas=0.25,0.5,1,2,4,8,16,32

Runs, interleaved `--repeats` times, each as the user types it:

- one run: `scripts/train.py --flagfile=PRESET`;
- the sweep: `scripts/sweep.py --flagfile=PRESET --grid=beta=BETAS --jobs=2`
  with its defaults (`--group=0`: the points grouped, up to 8 in a process
  that also evaluates them), evaluations and report included;
- with --ungrouped, the same sweep with `--group=1` (one process per point);
- with --ray, the sweep with `--engine=ray` on a Ray instance started on
  this machine (auto groups: one per task slot, --jobs CPUs), and with
  --ungrouped also `--engine=ray --group=1` (one task per point). Ray's
  workers are no children of the sweep, so their CPU seconds are not counted:
  those rows give wall time only.

Prints wall seconds and the CPU seconds of the child processes (user +
system, less sensitive than wall time to other jobs sharing the machine), the
load average before and after, and the CPU.
"""

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("preset", "scripts/flags/rd_digits_bernoulli.flags",
                    "Flagfile of the run and of every sweep point.")
flags.DEFINE_list("betas", ["0.25", "0.5", "1", "2", "4", "8", "16", "32"],
                  "The sweep's beta grid.")
flags.DEFINE_integer("repeats", 2, "Interleaved runs of each variant.")
flags.DEFINE_integer("jobs", 2, "The sweep's --jobs.")
flags.DEFINE_bool("ungrouped", False, "Also time the sweep with --group=1.")
flags.DEFINE_bool("ray", False, "Also time the sweep with --engine=ray.")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(command, env):
  """(wall seconds, children's CPU seconds) of one command; exits on failure."""
  before = resource.getrusage(resource.RUSAGE_CHILDREN)
  start = time.perf_counter()
  proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True,
                        text=True, check=False)
  wall = time.perf_counter() - start
  after = resource.getrusage(resource.RUSAGE_CHILDREN)
  if proc.returncode != 0:
    sys.exit(f"failed ({proc.returncode}): {' '.join(command)}\n"
             f"{proc.stderr[-3000:]}")
  cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
  return wall, cpu


def cpu_model():
  try:
    with open("/proc/cpuinfo") as f:
      return next((l.split(":", 1)[1].strip() for l in f
                   if l.startswith("model name")), "unknown")
  except OSError:
    return "unknown"


def main(argv):
  del argv
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join(
      p for p in (ROOT, env.get("PYTHONPATH")) if p)
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  python = sys.executable
  work = tempfile.mkdtemp(prefix="tfvae_sweep_wall_")
  grid = "--grid=beta=" + ",".join(FLAGS.betas)
  variants = [("one run (train.py)", lambda d: [
      python, "scripts/train.py", f"--flagfile={FLAGS.preset}",
      f"--logdir={d}", "--verbose=0"])]
  sweep = lambda d, *extra: [  # noqa: E731
      python, "scripts/sweep.py", f"--flagfile={FLAGS.preset}", grid,
      f"--sweep_dir={d}", f"--jobs={FLAGS.jobs}", *extra]
  variants.append((f"{len(FLAGS.betas)}-point sweep, defaults (--group=0)",
                   sweep))
  if FLAGS.ungrouped:
    variants.append((f"{len(FLAGS.betas)}-point sweep, one process per "
                     "point (--group=1)", lambda d: sweep(d, "--group=1")))
  if FLAGS.ray:
    variants.append((f"{len(FLAGS.betas)}-point sweep on Ray, defaults "
                     "(a group per task slot)",
                     lambda d: sweep(d, "--engine=ray")))
    if FLAGS.ungrouped:
      variants.append((f"{len(FLAGS.betas)}-point sweep on Ray, one task per "
                       "point (--group=1)",
                       lambda d: sweep(d, "--engine=ray", "--group=1")))
  load_before = os.getloadavg()
  results = {name: [] for name, _ in variants}
  for repeat in range(FLAGS.repeats):
    for k, (name, command) in enumerate(variants):
      directory = os.path.join(work, f"{k}_{repeat}")
      results[name].append(timed(command(directory), env))
      print(f"{name}: wall {results[name][-1][0]:.1f} s, CPU "
            f"{results[name][-1][1]:.1f} s", flush=True)
  load_after = os.getloadavg()
  shutil.rmtree(work, ignore_errors=True)
  one_wall = min(w for w, _ in results[variants[0][0]])
  one_cpu = min(c for _, c in results[variants[0][0]])
  print(f"\n- CPU: {cpu_model()}, {os.cpu_count()} logical cores")
  print(f"- load average (1, 5, 15 min) before: "
        f"{' '.join(f'{v:.2f}' for v in load_before)}, after: "
        f"{' '.join(f'{v:.2f}' for v in load_after)}")
  print(f"- preset {FLAGS.preset}, betas {','.join(FLAGS.betas)}, "
        f"--jobs={FLAGS.jobs}, {FLAGS.repeats} interleaved repeats\n")
  print("| variant | wall s (best) | wall, all runs | vs one run (wall) | "
        "CPU s (best) | CPU, all runs | vs one run (CPU) |")
  print("|---|---:|---:|---:|---:|---:|---:|")
  for name, runs in results.items():
    walls = [w for w, _ in runs]
    cpus = [c for _, c in runs]
    cpu_cells = ("n/a | n/a | n/a" if "on Ray" in name else
                 f"{min(cpus):.1f} | {min(cpus):.1f}-{max(cpus):.1f} | "
                 f"{min(cpus) / one_cpu:.2f}x")
    print(f"| {name} | {min(walls):.1f} | {min(walls):.1f}-{max(walls):.1f} "
          f"| {min(walls) / one_wall:.2f}x | {cpu_cells} |")


if __name__ == "__main__":
  app.run(main)
