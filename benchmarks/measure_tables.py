#!/usr/bin/env python3
"""Re-measures the README's tables over several seeds: mean ± spread.

    python benchmarks/measure_tables.py                       # all tables, seeds 0,1,2
    python benchmarks/measure_tables.py --tables=headline     # `make train`'s row
    python benchmarks/measure_tables.py --tables=presets --seeds=0,1,2,3,4

Each row of a table is the README's own command (`scripts/train.py
--flagfile=scripts/flags/<preset>.flags`, plus `--seed=S` and a run directory
under --out), run once per seed, one run at a time; the numbers are read back
from each run's `final_metrics.json`. A cell is `mean ± sd` (sample standard
deviation over the seeds) and the table also gives each row's [min, max] of
-ELBO, so a reader sees how far one run may land from the mean. The first
lines printed name the machine (platform, CPU model, cores, Python and
TensorFlow versions): wall times are only comparable on the same machine and
load. Finished runs are reused when rerun with the same --out (the trainer
resumes or evaluates only), so an interrupted measurement continues.

Tables (README sections):
- headline: `default.flags` (the `make train` row);
- presets: the ten objective presets ("Presets");
- balancing: the seven balancing presets and `plain` (kl_linear.flags with
  --kl_schedule=constant) ("Choosing a balancing method");
- likelihoods: the likelihood families' presets on shapes_rgb and
  mixed_table ("Presets").
"""

import argparse
import json
import math
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS_DIR = os.path.join(ROOT, "scripts", "flags")
sys.path.insert(0, ROOT)

from tfvae.config.runtime import MIXED_PRECISION  # pylint: disable=wrong-import-position

PRESETS = ["default", "question_l2_sum", "question_bce_sum",
           "question_mean_mean_0.1", "question_beta_norm_0.1", "bernoulli",
           "continuous_bernoulli", "sigma_vae_learned", "sigma_vae_optimal",
           "gaussian_fixed_sigma"]
BALANCING = ["kl_linear", "kl_sigmoid", "kl_cyclical", "free_bits", "capacity",
             "geco", "controlvae"]
# The likelihood families' presets (docs/likelihoods.md).
LIKELIHOODS = ["beta_shapes_rgb", "discretized_logistic_shapes_rgb",
               "discretized_gaussian_shapes_rgb", "columns_mixed_table"]
# table -> [(row name, preset flagfile, extra flags)]
TABLES = {
    "headline": [("default", "default", [])],
    "presets": [(p, p, []) for p in PRESETS],
    "likelihoods": [(p, p, []) for p in LIKELIHOODS],
    "balancing": [(p, p, []) for p in BALANCING] + [
        ("plain", "kl_linear", ["--kl_schedule=constant"])],
}
COLUMNS = [("neg_elbo", "−ELBO (nats)", 2), ("bits_per_dim", "bits/dim", 3),
           ("rate", "rate", 2), ("distortion", "distortion", 2),
           ("beta_eff", "beta_eff", 3), ("sigma", "sigma", 3),
           ("active_units", "active units", 1),
           ("train_seconds", "wall time (s)", 1)]


def machine():
  """Lines naming the machine the numbers come from."""
  cpu = platform.processor() or "unknown CPU"
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          cpu = line.split(":", 1)[1].strip()
          break
  except OSError:
    pass
  try:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf_version = tf.__version__
  except ImportError:
    tf_version = "not installed"
  try:
    load = ", load average %.2f %.2f %.2f" % os.getloadavg()
  except OSError:
    load = ""
  return [f"machine: {platform.platform()}; {cpu}; {os.cpu_count()} cores"
          f"{load}",
          f"python {platform.python_version()}, tensorflow {tf_version}"]


def run_once(flagfile, extra, seed, logdir, steps=None, python=sys.executable,
             mixed_precision=None):
  """One README command with --seed; returns its final_metrics dict."""
  command = [python, os.path.join(ROOT, "scripts", "train.py"),
             f"--flagfile={os.path.join(FLAGS_DIR, flagfile + '.flags')}",
             *extra, f"--seed={seed}", f"--logdir={logdir}", "--verbose=0"]
  if steps is not None:
    command.append(f"--steps={steps}")
  if mixed_precision is not None:
    command.append(f"--mixed_precision={mixed_precision}")
  proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
  if proc.returncode != 0:
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    raise RuntimeError(f"{flagfile} seed {seed}: {tail}")
  with open(os.path.join(logdir, "final_metrics.json")) as f:
    return json.load(f)


def mean_sd(values):
  """(mean, sample standard deviation; 0 for a single value)."""
  n = len(values)
  mean = sum(values) / n
  if n < 2:
    return mean, 0.0
  return mean, math.sqrt(sum((v - mean)**2 for v in values) / (n - 1))


def summarise(rows):
  """rows: [(name, [final_metrics per seed])] -> markdown table lines."""
  header = ["row", "seeds"] + [title for _, title, _ in COLUMNS] + [
      "−ELBO [min, max]"]
  lines = ["| " + " | ".join(header) + " |",
           "|" + "---|" * len(header)]
  for name, finals in rows:
    cells = [f"`{name}`", str(len(finals))]
    for key, _, digits in COLUMNS:
      values = [float(f[key]) for f in finals if f.get(key) is not None]
      if not values:
        cells.append("–")
        continue
      mean, sd = mean_sd(values)
      cells.append(f"{mean:.{digits}f} ± {sd:.{digits}f}")
    elbo = [float(f["neg_elbo"]) for f in finals]
    cells.append(f"[{min(elbo):.2f}, {max(elbo):.2f}]")
    lines.append("| " + " | ".join(cells) + " |")
  return lines


def measure(tables, seeds, out, steps=None, only=None, print_fn=print,
            mixed_precision=None):
  """Runs every (row, seed); prints and returns {table: markdown lines}."""
  for line in machine():
    print_fn(line)
  results = {}
  for table in tables:
    rows = []
    for name, flagfile, extra in TABLES[table]:
      if only and name not in only:
        continue
      finals = []
      for seed in seeds:
        logdir = os.path.join(out, table, name, f"seed{seed}")
        finals.append(run_once(flagfile, extra, seed, logdir, steps,
                               mixed_precision=mixed_precision))
        print_fn(f"{table}/{name} seed {seed}: -ELBO "
                 f"{finals[-1]['neg_elbo']:.3f} nats "
                 f"({finals[-1]['train_seconds']} s)")
      rows.append((name, finals))
    results[table] = summarise(rows)
    print_fn(f"\n{table} (seeds {','.join(map(str, seeds))}"
             f"{'' if steps is None else f', {steps} steps'}):")
    for line in results[table]:
      print_fn(line)
  return results


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--tables", default="headline,presets,balancing",
                      help="comma-separated: " + ", ".join(TABLES))
  parser.add_argument("--seeds", default="0,1,2")
  parser.add_argument("--out", default=os.path.join(ROOT, "runs", "tables"),
                      help="run directories go to OUT/<table>/<row>/seed<S>")
  parser.add_argument("--steps", type=int, default=None,
                      help="override every preset's --steps (quick checks)")
  parser.add_argument("--rows", default="",
                      help="only these rows (comma-separated names)")
  parser.add_argument("--mixed_precision", default=None,
                      choices=MIXED_PRECISION,
                      help="pass --mixed_precision=VALUE to every run "
                           "(default: the runs' own default, none)")
  args = parser.parse_args(argv)
  tables = [t for t in args.tables.split(",") if t]
  unknown = [t for t in tables if t not in TABLES]
  if unknown:
    parser.error(f"unknown table(s) {', '.join(unknown)}; choose from "
                 f"{', '.join(TABLES)}")
  try:
    seeds = [int(s) for s in args.seeds.split(",") if s]
  except ValueError:
    parser.error(f"--seeds must be comma-separated integers, got "
                 f"{args.seeds!r}")
  if not seeds:
    parser.error("--seeds is empty")
  try:
    measure(tables, seeds, args.out, args.steps,
            only=[r for r in args.rows.split(",") if r],
            mixed_precision=args.mixed_precision)
  except RuntimeError as e:
    print(f"measure_tables.py: error: {e}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
