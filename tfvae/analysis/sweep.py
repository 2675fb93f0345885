"""Sweeps: one ordinary training run per point of a grid, then their evaluation.

A sweep point is a list of `train.py` arguments and its own run directory
`<sweep_dir>/<point name>`. Because every point is an ordinary run:

- a sweep is resumable: a point whose run wrote `final_metrics.json` at its
  final step is skipped, an interrupted one resumes from its checkpoint, and
  an evaluation (`evaluation.json`) at the run's step with the same k is kept;
- any point can be rerun alone with the `train.py` command the sweep prints.

Grids are `flag=v1,v2,...`; several grids make their cartesian product, and
presets (flagfiles) are one more axis of it. This module plans the points and
trains them (as `train.py` subprocesses, `jobs` at a time); the caller
evaluates them (`tfvae.evaluation`) and `sweep_report` writes the results.
"""

import concurrent.futures
import dataclasses
import itertools
import os
import re
import subprocess
import threading
import time

from tfvae.config import ExperimentConfig
from tfvae.errors import ConfigError
from tfvae.runs import files
from tfvae.runs import paths
from tfvae.runs import rundir

CONFIG_FIELDS = tuple(ExperimentConfig.field_sections())
# Flags a grid cannot vary: the sweep sets them for every point.
RESERVED_FLAGS = ("logdir",)
EVALUATION_FILE = paths.EVALUATION_FILE
LOG_DIR = "logs"
INCLUDED_DIR = "included"
HPARAMS_DIR = "hparams"
# Names in the sweep directory that are not runs.
RESERVED_NAMES = (LOG_DIR, INCLUDED_DIR, HPARAMS_DIR)


@dataclasses.dataclass
class Point:
  """One training run of a sweep.

  Attributes:
    name: directory name of the run under the sweep directory.
    values: the grid values of this point ({flag: value as given}, plus
      {"preset": file stem} when presets are swept).
    args: `train.py` arguments (without the program), ending in --logdir.
    logdir: the run directory.
    config: the validated `ExperimentConfig` these arguments describe (set
      by the caller).
  """

  name: str
  values: dict
  args: list
  logdir: str
  config: object = None


def parse_grid(spec):
  """`flag=v1,v2,...` -> (flag, [values]); ConfigError if malformed."""
  name, sep, values = spec.partition("=")
  name = name.strip().lstrip("-")
  if not sep or not name:
    raise ConfigError(f"--grid={spec!r} must look like FLAG=V1,V2,... "
                      "(e.g. beta=0.25,1,4)")
  if name not in CONFIG_FIELDS:
    raise ConfigError(f"--grid={spec!r}: {name!r} is not a train.py flag")
  if name in RESERVED_FLAGS:
    raise ConfigError(f"--grid cannot vary --{name}; the sweep sets it")
  items = [v.strip() for v in values.split(",")]
  if not items or any(not v for v in items):
    raise ConfigError(f"--grid={spec!r} has an empty value")
  if len(set(items)) != len(items):
    raise ConfigError(f"--grid={spec!r} repeats a value")
  return name, items


def _slug(text):
  return re.sub(r"[^A-Za-z0-9.+-]+", "_", str(text)).strip("_") or "x"


def point_name(values):
  """Directory name of a point: `preset-flag_value-...` in grid order."""
  parts = []
  for key, value in values.items():
    parts.append(_slug(value) if key == "preset" else
                 f"{_slug(key)}_{_slug(value)}")
  return "-".join(parts) or "run"


def plan_points(sweep_dir, base_args, grids=(), presets=()):
  """Every point of presets x grid_1 x grid_2 x ... (in that order).

  Args:
    sweep_dir: the sweep directory; point p runs in `<sweep_dir>/<p.name>`.
    base_args: `train.py` arguments common to all points (overrides like
      --steps); they come after a preset's flagfile, so they override it.
    grids: [(flag, [values])] from `parse_grid`.
    presets: flagfile paths, one axis of the product.

  Returns:
    [Point] (config unset); ConfigError when two points share a name.
  """
  names = [name for name, _ in grids]
  if len(set(names)) != len(names):
    raise ConfigError(f"--grid names a flag twice: {', '.join(names)}")
  for preset in presets:
    if not os.path.isfile(preset):
      raise ConfigError(f"--presets: no such flagfile: {preset}")
  preset_axis = list(presets) or [None]
  points = []
  for preset, *combo in itertools.product(preset_axis,
                                          *[vals for _, vals in grids]):
    values = {}
    if preset is not None:
      values["preset"] = os.path.splitext(os.path.basename(preset))[0]
    values.update(zip(names, combo))
    name = point_name(values)
    logdir = os.path.join(sweep_dir, name)
    args = ([f"--flagfile={preset}"] if preset else []) + list(base_args)
    args += [f"--{k}={v}" for k, v in zip(names, combo)]
    args.append(f"--logdir={logdir}")
    points.append(Point(name=name, values=values, args=args, logdir=logdir))
  seen = set()
  for point in points:
    if point.name in RESERVED_NAMES:
      raise ConfigError(f"a sweep point cannot be named {point.name!r} (the "
                        "sweep's own output uses that name)")
    if point.name in seen:
      raise ConfigError(f"two sweep points share the name {point.name!r} "
                        "(presets with the same file name?)")
    seen.add(point.name)
  return points


def training_done(logdir, steps=None):
  """Whether the run wrote its final metrics (at `steps` or later, if given)."""
  final = rundir.read_final_metrics(logdir)
  if final is None:
    return False
  return steps is None or final.get("step", -1) >= steps


def evaluation_current(json_path, logdir, iw_samples, elbo_samples=None):
  """Whether `json_path` evaluates the run's final step with these settings."""
  evaluation = files.read_json_or_none(json_path)
  final = rundir.read_final_metrics(logdir)
  if evaluation is None or final is None:
    return False
  if evaluation.get("step") != final.get("step"):
    return False
  if (elbo_samples is not None and
      evaluation.get("distortion_samples", 1) != elbo_samples):
    return False
  return evaluation.get("iw_samples", 0) == iw_samples


def evaluate_point(logdir, json_path, tensorboard_dir, options):
  """The sweep's evaluation of one trained run, written to `json_path`;
  returns it (raises TfvaeError)."""
  from tfvae import evaluation  # pylint: disable=import-outside-toplevel
  result = evaluation.evaluate_run(
      logdir, iw_samples=options.iw_samples, metrics=options.metrics,
      sizes=options.sizes, tensorboard_dir=tensorboard_dir,
      elbo_samples=options.elbo_samples)
  evaluation.write_json(json_path, result)
  return result


@dataclasses.dataclass
class JobResult:
  name: str
  ok: bool
  message: str
  seconds: float


def run_training(name, command, log_path, env=None):
  """Runs one `train.py` command, its output appended to `log_path`."""
  started = time.time()
  os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
  with open(log_path, "a") as log:
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                          env=env, check=False).returncode
  if code != 0:
    return JobResult(name, False, f"training failed (exit {code}); see "
                     f"{log_path}", time.time() - started)
  return JobResult(name, True, "trained", time.time() - started)


def run_trainings(jobs, num_parallel=1, env=None, print_fn=print):
  """Runs [(name, command, log_path)], `num_parallel` at a time.

  Returns {name: JobResult}.
  """
  lock = threading.Lock()
  done = [0]

  def run_one(job):
    result = run_training(*job, env=env)
    with lock:
      done[0] += 1
      print_fn(f"[{done[0]}/{len(jobs)}] {result.name}: {result.message} "
               f"({result.seconds:.0f}s)")
    return result

  with concurrent.futures.ThreadPoolExecutor(max(1, num_parallel)) as pool:
    return {r.name: r for r in pool.map(run_one, jobs)}
