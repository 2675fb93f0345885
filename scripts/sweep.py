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
other methods to the table and the plot. --engine=ray trains the points on
Ray, on this machine or a cluster (--ray_address; docs/evaluation.md).
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
flags.DEFINE_enum("engine", "local", ["local", "ray"], "Where the points "
                  "train: local (--jobs subprocesses) or ray (one Ray task per "
                  "point; pip install 'tfvae[ray]'). See docs/evaluation.md.")
flags.DEFINE_string("ray_address", None, "--engine=ray: empty starts a Ray "
                    "instance on this machine (loopback, --jobs CPUs, or 2); "
                    "auto or HOST:PORT joins a running cluster.")
flags.DEFINE_float("cpus_per_run", 1, "--engine=ray: CPUs reserved per point.")
flags.DEFINE_integer("max_retries", 3, "--engine=ray: retries of a point whose "
                     "worker died (it resumes from its last checkpoint).")
flags.DEFINE_enum("scheduler", "none", ["none", "asha"], "--engine=ray: asha "
                  "stops points early by their validation -ELBO (Ray Tune).")
evalflags.define_evaluation_flags()
flags.DEFINE_bool("reevaluate", False, "Evaluate every run again even when its "
                  "evaluation is up to date.")
flags.DEFINE_bool("dry_run", False, "Print the train.py commands and stop.")

FLAGS = flags.FLAGS
# Sweep flags that are not passed on to train.py.
NOT_PASSED = ("logdir",)


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
    if FLAGS.jobs < 1:
      raise ConfigError(f"--jobs must be >= 1, got {FLAGS.jobs}")
    if FLAGS.iw_samples < 0:
      raise ConfigError(f"--iw_samples must be >= 0, got {FLAGS.iw_samples}")
    from tfvae.analysis import engines
    engine = engines.make_engine(
        FLAGS.engine, jobs=FLAGS.jobs, address=FLAGS.ray_address,
        num_cpus=FLAGS.jobs if FLAGS["jobs"].present else 2,
        cpus_per_run=FLAGS.cpus_per_run, max_retries=FLAGS.max_retries,
        scheduler=FLAGS.scheduler)
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
    trainings = [engines.Training(
        p.name, [sys.executable, os.path.join(SCRIPTS, "train.py")] + p.args,
        os.path.join(log_dir, p.name + ".log"), p.logdir, p.config.steps,
        p.config.eval_every, p.config.checkpoint_every) for p in points]
    trained = engine.run([t for t in trainings if not engine.finished(t)])

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
      rows[-1]["status"] = engines.point_status(logdir)
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
