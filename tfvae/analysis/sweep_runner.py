"""A whole sweep: plan the points, train them, evaluate them, write the report.

`run_sweep(spec, ...)` is what `tfvae-sweep` does; the planning is in
`tfvae.analysis.sweep`, the report in `tfvae.analysis.sweep_report`. Each
point trains as its own process (`train_command + point.args`) or with others
in a group process (`tfvae.analysis.sweep_group`, which also evaluates its
points), so a sweep is ordinary runs and resumes like them; the evaluations
still missing follow one by one.
"""

# pylint: disable=import-outside-toplevel

import dataclasses
import os
import shlex
import sys

from tfvae.analysis import sweep
from tfvae.errors import ConfigError, TfvaeError

# How a point's training runs: the tfvae-train program of this interpreter.
TRAIN_COMMAND = (sys.executable, "-m", "tfvae.cli.train")


@dataclasses.dataclass
class SweepSpec:
  """What to sweep.

  Attributes:
    sweep_dir: one run directory per point, logs/, the report.
    grids: `FLAG=V1,V2,...` strings; several make their cartesian product.
    presets: flagfiles, one more axis of the product.
    include: finished run directories of other methods to add to the report.
    base_args: training arguments passed to every point.
    jobs: trainings at a time.
    reevaluate: evaluate every run again even when up to date.
    dry_run: print the training commands and stop.
    engine: where the points train (`tfvae.analysis.engines`); None: the
      local engine with `jobs`.
    group: points trained together in one process
      (`tfvae.analysis.sweep_group`; on Ray one task per group); 0: auto
      (small models grouped), 1: one process per point.
  """

  sweep_dir: str = "runs/sweep"
  grids: list = dataclasses.field(default_factory=list)
  presets: list = dataclasses.field(default_factory=list)
  include: list = dataclasses.field(default_factory=list)
  base_args: list = dataclasses.field(default_factory=list)
  jobs: int = 1
  reevaluate: bool = False
  dry_run: bool = False
  engine: object = None
  group: int = 0

  def validate(self):
    if self.jobs < 1:
      raise ConfigError(f"jobs must be >= 1, got {self.jobs}",
                        params=("jobs",))
    if self.group < 0:
      raise ConfigError(f"group must be >= 0 (0: auto), got {self.group}",
                        params=("group",))
    if self.group > 1 and not getattr(self.engine, "trains_groups", True):
      raise ConfigError(f"group={self.group} cannot be used with scheduler="
                        f"{self.engine.scheduler}, which judges and stops "
                        "points one by one (use group=0 or 1)",
                        params=("group",))
    if not (self.grids or self.presets or self.include):
      raise ConfigError("nothing to sweep: give grid=FLAG=V1,V2,... and/or "
                        "presets=A.flags,B.flags", params=("grid", "presets"))
    return self


def plan(spec, config_of_args):
  """(points with their configs, [(name, path)] of included runs, grid names).

  `config_of_args(args)` is the validated config of one point's training
  arguments (the command line's parser); its ConfigError names the point.
  """
  grids = [sweep.parse_grid(g) for g in spec.grids]
  grid_names = (["preset"] if spec.presets else []) + [n for n, _ in grids]
  points = []
  if spec.grids or spec.presets:
    points = sweep.plan_points(spec.sweep_dir, spec.base_args, grids,
                               spec.presets)
  for point in points:
    try:
      point.config = config_of_args(point.args)
    except ConfigError as e:
      raise ConfigError(f"point {point.name}: {e}", params=e.params) from None
  included = []
  for path in spec.include:
    if not sweep.training_done(path):
      raise ConfigError(f"include={path}: not a finished tfvae run (no "
                        "final_metrics.json)", params=("include",))
    name = base = os.path.basename(os.path.normpath(path))
    taken = {p.name for p in points} | {n for n, _ in included}
    i = 2
    while name in taken:
      name, i = f"{base}_{i}", i + 1
    included.append((name, path))
  return points, included, grid_names


def _evaluate_all(plan_rows, trained, spec, options, print_fn,
                  evaluated=()):
  """Evaluates (or keeps) every run; returns (report rows, failure lines).

  `evaluated`: names whose evaluation this sweep's group processes wrote.
  """
  from tfvae.analysis import engines
  from tfvae.analysis import sweep_report
  from tfvae.runs import files
  failed, rows = [], []
  for name, kind, logdir, json_path, tb_dir, values in plan_rows:
    if name in trained and not trained[name].ok:
      failed.append(f"{name}: {trained[name].message}")
      continue
    current = sweep.evaluation_current(json_path, logdir, options.iw_samples,
                                       options.elbo_samples)
    if name in evaluated and current:
      result = files.read_json(json_path)
    elif spec.reevaluate or not current:
      try:
        result = sweep.evaluate_point(logdir, json_path, tb_dir, options)
      except TfvaeError as e:
        failed.append(f"{name}: evaluation failed: {e}")
        continue
    else:
      result = None
      print_fn(f"{name}: up to date")
    if result is not None:
      print_fn(f"{name}: evaluated (-ELBO {result['neg_elbo']:.3f}, rate "
               f"{result['rate']:.3f}, distortion "
               f"{result['distortion']:.3f})")
    rows.append(sweep_report.collect_row(name, kind, logdir, json_path,
                                         values))
    rows[-1]["status"] = engines.point_status(logdir)
  return rows, failed


def _train(spec, points, train_command, options, evaluation_paths,
           print_fn):
  """Trains the points not yet trained on the spec's engine, one by one or
  in groups (`tfvae.analysis.sweep_group`, which also evaluates them);
  returns ({name: JobResult}, {names evaluated})."""
  from tfvae.analysis import engines
  from tfvae.analysis import sweep_group
  log_dir = os.path.join(spec.sweep_dir, sweep.LOG_DIR)
  engine = spec.engine or engines.LocalEngine(spec.jobs)
  trainings = [engines.Training(
      p.name, list(train_command) + p.args,
      os.path.join(log_dir, p.name + ".log"), p.logdir,
      p.config.training.steps, p.config.run.eval_every,
      p.config.run.checkpoint_every) for p in points]
  todo = [t for t in trainings if not engine.finished(t)]
  names = {t.name for t in todo}
  to_train = [p for p in points if p.name in names]
  if engine.trains_groups and spec.group != 1 and to_train:
    size = sweep_group.group_size(spec.group, [p.config for p in to_train],
                                  engine.group_slots())
    if size > 1:
      return sweep_group.train_grouped(to_train, size, log_dir, engine,
                                       options, evaluation_paths, print_fn)
  return engine.run(todo, print_fn=print_fn), set()


def run_sweep(spec, options, config_of_args, print_fn=print,
              train_command=TRAIN_COMMAND):
  """Plans, trains, evaluates and reports a sweep.

  Args:
    spec: the `SweepSpec`.
    options: `tfvae.evaluation.EvaluationOptions` (iw_samples, elbo_samples,
      metrics, sizes) of every evaluation.
    config_of_args: see `plan`.
    print_fn: progress lines.
    train_command: the program each point's arguments are appended to.

  Returns:
    (number of runs planned, [failure lines]); nothing else on a dry run.
  """
  from tfvae import evaluation
  from tfvae.analysis import sweep_report
  spec.validate()
  points, included, grid_names = plan(spec, config_of_args)
  for point in points:
    print_fn(f"{point.name}: python scripts/train.py "
             + " ".join(shlex.quote(a) for a in point.args))
  if spec.dry_run:
    return len(points), []
  # (name, kind, logdir, evaluation JSON, TensorBoard dir, grid values)
  plan_rows = [(p.name, "sweep", p.logdir,
                os.path.join(p.logdir, sweep.EVALUATION_FILE),
                evaluation.default_output_paths(p.logdir)[1], p.values)
               for p in points]
  trained, evaluated = _train(
      spec, points, train_command, options,
      {name: (json_path, tb_dir)
       for name, _, _, json_path, tb_dir, _ in plan_rows}, print_fn)
  plan_rows += [(name, "included", path,
                 os.path.join(spec.sweep_dir, sweep.INCLUDED_DIR,
                              name + ".json"), None, {})
                for name, path in included]
  rows, failed = _evaluate_all(plan_rows, trained, spec, options, print_fn,
                                evaluated)
  if rows:
    paths, table = sweep_report.write_report(rows, spec.sweep_dir, grid_names)
    print_fn()
    print_fn(table)
    for what, path in paths.items():
      print_fn(f"written: {path} ({what})")
  return len(plan_rows), failed
