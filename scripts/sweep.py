#!/usr/bin/env python3
"""Runs a sweep of ordinary train.py runs and draws the rate-distortion plane.

    python scripts/sweep.py --flagfile=scripts/flags/rd_digits_bernoulli.flags \\
        --grid=beta=0.25,0.5,1,2,4,8 --sweep_dir=runs/rd_digits --jobs=2
    python scripts/sweep.py --steps=1000 --jobs=2 --sweep_dir=runs/likelihoods \\
      --presets=scripts/flags/bernoulli.flags,scripts/flags/continuous_bernoulli.flags

Every point of the grid (the cartesian product of all --grid flags and of
--presets) is a train.py run with its own logdir <sweep_dir>/<point>; all
other train.py flags given here (on the command line or in --flagfile) are
passed to every point. Finished runs are skipped, so rerunning the same command
resumes a sweep. Each run is then evaluated like evaluate.py does (IWAE NLL
with --iw_samples, disentanglement metrics on data sets with factors, sizes
from the --metric_* flags; kept when up to date) and the sweep
writes <sweep_dir>/sweep.csv, sweep.md, rd_plane.png and TensorBoard HParams
(`tensorboard --logdir <sweep_dir>`). --include=RUNDIR adds finished runs of
other methods to the table and the plot.
"""

import os
import shlex
import sys

from absl import app
from absl import flags

import evalflags  # pylint: disable=import-error
import flagdefs  # pylint: disable=import-error

PROGRAM = "sweep.py"
SCRIPTS = os.path.dirname(os.path.abspath(__file__))

flagdefs.define_config_flags()
flags.DEFINE_multi_string("grid", [], "FLAG=V1,V2,...: values of one train.py "
                          "flag; several --grid make their cartesian product.")
flags.DEFINE_list("presets", [], "Flagfiles to run as points (one more axis of "
                  "the product), e.g. scripts/flags/bernoulli.flags,...")
flags.DEFINE_multi_string("include", [], "A finished run directory of another "
                          "method to add to the table and the plot "
                          "(repeatable).")
flags.DEFINE_string("sweep_dir", "runs/sweep", "Directory of the sweep: one "
                    "run directory per point, logs/, the report.")
flags.DEFINE_integer("jobs", 1, "Runs trained at a time, each in its own "
                     "process (the evaluations follow, one by one).")
evalflags.define_evaluation_flags()
flags.DEFINE_bool("reevaluate", False, "Evaluate every run again even when its "
                  "evaluation is up to date.")
flags.DEFINE_bool("dry_run", False, "Print the train.py commands and stop.")

FLAGS = flags.FLAGS
# Sweep flags that are not passed on to train.py.
NOT_PASSED = ("logdir",)
# Flags the sweep would ignore on its command line -> what to use instead. A
# --flagfile may still set them (the presets all name a --logdir).
IGNORED_ON_COMMAND_LINE = {
    "logdir": "--sweep_dir=DIR (each point's run directory is "
              "DIR/<point>)",
}


def refuse_ignored_flags(argv):
  """ConfigError for a flag typed on the command line that would be ignored."""
  from tfvae.errors import ConfigError  # pylint: disable=import-outside-toplevel
  for arg in argv[1:]:
    if arg == "--":
      break
    name = arg.lstrip("-").split("=", 1)[0]
    if arg.startswith("-") and name in IGNORED_ON_COMMAND_LINE:
      raise ConfigError(f"--{name} is not used by {PROGRAM}; use "
                        f"{IGNORED_ON_COMMAND_LINE[name]}")


def passed_through_args():
  """The train.py flags given to the sweep (command line or flagfile)."""
  from tfvae.analysis import sweep  # pylint: disable=import-outside-toplevel
  return [FLAGS[name].serialize() for name in sweep.CONFIG_FIELDS
          if FLAGS[name].present and name not in NOT_PASSED]


def point_config(point):
  """Parses a point's arguments like train.py would; returns its Config."""
  from tfvae.errors import ConfigError  # pylint: disable=import-outside-toplevel
  values = flags.FlagValues()
  flagdefs.define_config_flags(flag_values=values)
  try:
    values(["train.py"] + point.args)
    return flagdefs.config_from_flags(flag_values=values)
  except flags.Error as e:
    raise ConfigError(f"point {point.name}: {str(e).splitlines()[0]}") from None
  except ConfigError as e:
    raise ConfigError(f"point {point.name}: {e}") from None
  except OSError as e:
    raise ConfigError(
        f"point {point.name}: cannot read flagfile: {e}") from None


def main(argv):
  if len(argv) > 1:
    flagdefs.fail(PROGRAM, f"unexpected arguments: {' '.join(argv[1:])}")

  def run():
    # pylint: disable=import-outside-toplevel
    from tfvae import evaluation
    from tfvae.analysis import sweep
    from tfvae.analysis import sweep_report
    from tfvae.errors import ConfigError, TfvaeError
    refuse_ignored_flags(sys.argv)
    if FLAGS.jobs < 1:
      raise ConfigError(f"--jobs must be >= 1, got {FLAGS.jobs}")
    if FLAGS.iw_samples < 0:
      raise ConfigError(f"--iw_samples must be >= 0, got {FLAGS.iw_samples}")
    if not (FLAGS.grid or FLAGS.presets or FLAGS.include):
      raise ConfigError("nothing to sweep: give --grid=FLAG=V1,V2,... and/or "
                        "--presets=A.flags,B.flags")
    sizes = evalflags.metric_sizes()
    metrics = evalflags.metric_selection()
    grids = [sweep.parse_grid(spec) for spec in FLAGS.grid]
    grid_names = (["preset"] if FLAGS.presets else []) + [n for n, _ in grids]
    points = []
    if FLAGS.grid or FLAGS.presets:
      points = sweep.plan_points(FLAGS.sweep_dir, passed_through_args(), grids,
                                 FLAGS.presets)
    for point in points:
      point.config = point_config(point)
    included = []
    for path in FLAGS.include:
      if not sweep.training_done(path):
        raise ConfigError(f"--include={path}: not a finished tfvae run (no "
                          "final_metrics.json)")
      name = os.path.basename(os.path.normpath(path))
      taken = {p.name for p in points} | {n for n, _ in included}
      base, i = name, 2
      while name in taken:
        name, i = f"{base}_{i}", i + 1
      included.append((name, path))

    for point in points:
      print(f"{point.name}: python scripts/train.py "
            + " ".join(shlex.quote(a) for a in point.args))
    if FLAGS.dry_run:
      return

    log_dir = os.path.join(FLAGS.sweep_dir, sweep.LOG_DIR)
    trainings = [
        (p.name, [sys.executable, os.path.join(SCRIPTS, "train.py")] + p.args,
         os.path.join(log_dir, p.name + ".log"))
        for p in points if not sweep.training_done(p.logdir, p.config.steps)]
    trained = sweep.run_trainings(trainings, FLAGS.jobs)

    # (name, kind, logdir, evaluation JSON, TensorBoard dir, grid values)
    plan = [(p.name, "sweep", p.logdir,
             os.path.join(p.logdir, sweep.EVALUATION_FILE),
             evaluation.default_output_paths(p.logdir)[1], p.values)
            for p in points]
    plan += [(name, "included", path,
              os.path.join(FLAGS.sweep_dir, sweep.INCLUDED_DIR, name + ".json"),
              None, {}) for name, path in included]
    failed, rows = [], []
    for name, kind, logdir, json_path, tb_dir, values in plan:
      if name in trained and not trained[name].ok:
        failed.append(f"{name}: {trained[name].message}")
        continue
      if FLAGS.reevaluate or not sweep.evaluation_current(
          json_path, logdir, FLAGS.iw_samples, FLAGS.elbo_samples):
        try:
          result = evaluation.evaluate_run(
              logdir, iw_samples=FLAGS.iw_samples, metrics=metrics,
              sizes=sizes, tensorboard_dir=tb_dir,
              elbo_samples=FLAGS.elbo_samples)
        except TfvaeError as e:
          failed.append(f"{name}: evaluation failed: {e}")
          continue
        evaluation.write_json(json_path, result)
        print(f"{name}: evaluated (-ELBO {result['neg_elbo']:.3f}, rate "
              f"{result['rate']:.3f}, distortion {result['distortion']:.3f})")
      else:
        print(f"{name}: up to date")
      rows.append(sweep_report.collect_row(name, kind, logdir, json_path,
                                           values))
    if rows:
      paths, table = sweep_report.write_report(rows, FLAGS.sweep_dir,
                                               grid_names)
      print()
      print(table)
      for what, path in paths.items():
        print(f"written: {path} ({what})")
    if failed:
      for line in failed:
        print(line, file=sys.stderr)
      flagdefs.fail(PROGRAM, f"{len(failed)} of {len(plan)} runs failed",
                    code=1)

  flagdefs.run_guarded(PROGRAM, run)


if __name__ == "__main__":
  app.run(main, flags_parser=flagdefs.parse)
