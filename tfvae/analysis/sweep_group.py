"""A sweep's points trained in groups: K runs in one process and one step.

Each point of a sweep is an ordinary run; trained as its own process it pays
TensorFlow's start-up, its own data pipeline and, on a small model, a
per-call cost larger than its math. Points that share their data and
schedule (`tfvae.training.group.SHARED_FIELDS`: a grid over beta, beta_norm,
the likelihood, a balancer, the learning rate) train in groups of up to K
runs per process (`tfvae.training.group.train_group`): one pipeline, the K
steps in one compiled function. `--jobs` group processes run at a time, and
each evaluates its points as soon as they are trained; on Ray each group is
one task (`tfvae.analysis.engines`), so groups spread over the cluster's
machines and a group whose worker died resumes its points from their
checkpoints. Every point still gets its own run directory, log file,
evaluation and final metrics, equal to the point trained alone.

`--group=0` (auto) groups the points of small models (`--architecture=mlp`)
AUTO_GROUP_SIZE at a time and trains conv models one process per point
(their steps are bound by the convolutions: a group adds nothing there). One
process of 8 points is already the faster choice on 2 cores: the 8 models'
steps keep both busy (two processes of 4 points each trained the 8-point
digits sweep in 84-109 s against 81 s).

The group process is `python -m tfvae.analysis.sweep_group SPEC.json`; the
spec names its points (flat configs, log files) and the evaluation, and the
process writes what became of each point to the spec's result file.
"""

import dataclasses
import math
import os
import sys
import time

from tfvae.analysis import sweep as sweep_lib
from tfvae.errors import TfvaeError
from tfvae.runs import files

AUTO_GROUP_SIZE = 8
GROUP_COMMAND = (sys.executable, "-m", "tfvae.analysis.sweep_group")


def group_size(requested, configs, slots=1):
  """The points per group: `requested`, or for 0 (auto) 1 unless every
  point's model is an mlp, else AUTO_GROUP_SIZE, or fewer when that leaves
  some of the engine's `slots` idle (`group_slots()`: a Ray cluster's tasks
  at a time)."""
  if requested > 0:
    return requested
  if not configs or any(c.model.architecture != "mlp" for c in configs):
    return 1
  return max(1, min(AUTO_GROUP_SIZE, math.ceil(len(configs) / slots)))


def _log_print(log_path):
  """A print function appending to a point's log file."""
  os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)

  def print_fn(*args):
    with open(log_path, "a") as log:
      log.write(" ".join(str(a) for a in args) + "\n")
  return print_fn


def _write_spec(members, log_dir, index, options, evaluation_paths):
  """The spec file of one group process; returns (spec path, result path)."""
  spec_path = os.path.join(log_dir, f"group_{index}.json")
  result_path = os.path.join(log_dir, f"group_{index}.result.json")
  if os.path.exists(result_path):
    os.remove(result_path)
  files.write_json(spec_path, {
      "points": [{"name": p.name, "config": p.config.to_flat(),
                  "log": os.path.join(log_dir, p.name + ".log"),
                  "evaluation": evaluation_paths.get(p.name)}
                 for p in members],
      "evaluation": (None if options is None else
                     dataclasses.asdict(options)),
      "result": result_path})
  return spec_path, result_path


def group_trainings(points, size, log_dir, options=None,
                    evaluation_paths=None):
  """The group processes that train `points` (with configs) in groups of at
  most `size`: one `engines.Training` each, its spec written; with
  `options` (`EvaluationOptions`) each process also evaluates its trained
  points named in `evaluation_paths` ({name: (evaluation JSON, TensorBoard
  dir)}, `sweep.evaluate_point`).

  Returns [(Training, the path of the result file its process writes)].
  """
  # pylint: disable=import-outside-toplevel
  from tfvae.analysis import engines
  from tfvae.training import group
  os.makedirs(log_dir, exist_ok=True)
  groups = []
  for index, indices in enumerate(
      group.partition([p.config for p in points], size)):
    members = [points[i] for i in indices]
    spec_path, result_path = _write_spec(members, log_dir, index, options,
                                         evaluation_paths or {})
    first = members[0].config
    training = engines.Training(
        f"group_{index}", list(GROUP_COMMAND) + [spec_path],
        os.path.join(log_dir, f"group_{index}.log"), members[0].logdir,
        first.training.steps, first.run.eval_every,
        first.run.checkpoint_every,
        members=[(p.name, p.logdir) for p in members])
    groups.append((training, result_path))
  return groups


def train_grouped(points, size, log_dir, engine, options=None,
                  evaluation_paths=None, print_fn=print):
  """Trains `points` in groups of at most `size` on `engine` (local: its
  `jobs` group processes at a time; Ray: one task per group); see
  `group_trainings` for `options` and `evaluation_paths`.

  Returns ({name: JobResult}, {names evaluated}).
  """
  groups = group_trainings(points, size, log_dir, options, evaluation_paths)
  jobs = engine.run([training for training, _ in groups], print_fn=print_fn)
  results, evaluated = {}, set()
  for training, result_path in groups:
    job = jobs[training.name]
    outcome = files.read_json_or_none(result_path) or {}
    by_name = {entry["name"]: entry for entry in outcome.get("points", [])}
    for name, _ in training.members:
      entry = by_name.get(name)
      if entry is None:  # The process died before writing its result.
        message = (job.message if not job.ok else
                   f"the group process wrote no result; see "
                   f"{training.log_path}")
        result = sweep_lib.JobResult(name, False, message, job.seconds)
      else:
        result = sweep_lib.JobResult(name, entry["ok"], entry["message"],
                                     job.seconds)
        if entry.get("evaluated"):
          evaluated.add(name)
      results[name] = result
      print_fn(f"{name}: {result.message} ({training.name}, "
               f"{len(training.members)} point(s))")
  return results, evaluated


def _train_and_evaluate(spec):
  """The group process: trains the spec's points as one group, evaluates
  each trained point, writes the result file."""
  # pylint: disable=import-outside-toplevel
  from tfvae.config import ExperimentConfig
  from tfvae.evaluation import EvaluationOptions, MetricSizes
  from tfvae.training import group
  from tfvae.training import trainer
  points = spec["points"]
  prints = [_log_print(p["log"]) for p in points]
  names = ", ".join(p["name"] for p in points)
  for say in prints:
    say(f"$ trained in one process with: {names}")
  options = None
  if spec["evaluation"] is not None:
    values = dict(spec["evaluation"])
    if values.get("sizes") is not None:
      values["sizes"] = MetricSizes(**values["sizes"])
    options = EvaluationOptions(**values)
  configs = [None] * len(points)
  try:
    configs = [ExperimentConfig.from_flat(**p["config"]).validate()
               for p in points]
    finals = group.train_group(configs, print_fns=prints)
  except TfvaeError as e:
    finals = [e] * len(points)
  outcome = []
  for p, config, final, say in zip(points, configs, finals, prints):
    entry = {"name": p["name"], "ok": isinstance(final, dict)}
    if entry["ok"]:
      say(f"final validation metrics ({config.data.dataset}, step "
          f"{final['step']}, {final['train_seconds']}s):")
      say(trainer.summary_table(final))
      entry["message"] = "trained"
      if options is not None and p["evaluation"] is not None:
        try:
          sweep_lib.evaluate_point(config.run.logdir,
                                      *p["evaluation"], options)
          entry["evaluated"] = True
        except TfvaeError as e:
          say(f"evaluation failed: {e}")
    else:
      say(f"error: {final}")
      entry["message"] = f"training failed ({final}); see {p['log']}"
    outcome.append(entry)
  files.write_json(spec["result"], {"points": outcome})


def main(argv):
  if len(argv) != 2:
    sys.exit(f"usage: python -m tfvae.analysis.sweep_group SPEC.json "
             f"(got {argv[1:]})")
  started = time.time()
  _train_and_evaluate(files.read_json(argv[1]))
  print(f"group done in {time.time() - started:.0f}s")


if __name__ == "__main__":
  main(sys.argv)
