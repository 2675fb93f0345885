"""A sweep's points trained in groups: K runs in one process and one step.

Each point of a sweep is an ordinary run; trained as its own process it pays
TensorFlow's start-up, its own data pipeline and, on a small model, a
per-call cost larger than its math. Points that share their data and
schedule (`tfvae.training.group.SHARED_FIELDS`: a grid over beta, beta_norm,
the likelihood, a balancer, the learning rate) train here in groups of up to
K in this process (`tfvae.training.group.train_group`): one pipeline, the K
steps in one compiled function. Every point still gets its own run
directory, log file and final metrics, equal to the point trained alone.

`--group=0` (auto) groups the points of small models (`--architecture=mlp`)
AUTO_GROUP_SIZE at a time and trains conv models one process per point
(their steps are bound by the convolutions: a group adds nothing there).
"""

import os
import time

from tfvae.analysis import sweep as sweep_lib
from tfvae.errors import TfvaeError

AUTO_GROUP_SIZE = 8


def group_size(requested, configs):
  """The points per group: `requested`, or for 0 (auto) AUTO_GROUP_SIZE when
  every point's model is an mlp and 1 otherwise."""
  if requested > 0:
    return requested
  if configs and all(c.model.architecture == "mlp" for c in configs):
    return AUTO_GROUP_SIZE
  return 1


def _log_print(log_path):
  """A print function appending to a point's log file."""
  os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)

  def print_fn(*args):
    with open(log_path, "a") as log:
      log.write(" ".join(str(a) for a in args) + "\n")
  return print_fn


def train_grouped(points, size, log_dir, print_fn=print):
  """Trains `points` (with configs) in groups of at most `size`.

  Returns {name: JobResult}, as the engines do.
  """
  # pylint: disable-next=import-outside-toplevel
  from tfvae.training import group
  from tfvae.training import trainer  # pylint: disable=import-outside-toplevel
  results = {}
  batches = group.partition([p.config for p in points], size)
  total = len(points)
  for indices in batches:
    members = [points[i] for i in indices]
    names = ", ".join(p.name for p in members)
    logs = [os.path.join(log_dir, p.name + ".log") for p in members]
    prints = [_log_print(path) for path in logs]
    for p, say in zip(members, prints):
      say(f"$ trained in one process with: {names}")
    started = time.time()
    try:
      finals = group.train_group([p.config for p in members],
                                 print_fns=prints)
    except TfvaeError as e:
      finals = [e] * len(members)
    seconds = time.time() - started
    for p, final, say, log in zip(members, finals, prints, logs):
      if isinstance(final, dict):
        say(f"final validation metrics ({p.config.data.dataset}, step "
            f"{final['step']}, {final['train_seconds']}s):")
        say(trainer.summary_table(final))
        result = sweep_lib.JobResult(p.name, True, "trained", seconds)
      else:
        say(f"error: {final}")
        result = sweep_lib.JobResult(
            p.name, False, f"training failed ({final}); see {log}", seconds)
      results[p.name] = result
      print_fn(f"[{len(results)}/{total}] {p.name}: {result.message} "
               f"({seconds:.0f}s, in a group of {len(members)})")
  return results
