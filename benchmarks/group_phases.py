"""Where a grouped training's CPU time goes: tracing, steps, evaluations.

    python benchmarks/group_phases.py              # 8 points of the preset's beta grid
    python benchmarks/group_phases.py --points=1   # the same, one point

Trains the first `--points` betas of `--betas` with the settings of
`scripts/flags/rd_digits_bernoulli.flags` (digits, static binarization,
Bernoulli, latent 8, 3000 steps, an evaluation every 500) as one group
(`tfvae.training.group.train_group`) into a temporary directory, and prints
the process CPU seconds (user + system, all threads) of: importing
TensorFlow, Keras and TFP; the whole `train_group`; its first compiled call
(tracing the K models' steps plus that call's steps); its other compiled
calls (the training steps); the periodic evaluations (`diagnostics.evaluate`).
"""

import collections
import shutil
import tempfile
import time

_START = time.process_time()
# pylint: disable=wrong-import-position
import keras  # noqa: F401,E402  pylint: disable=unused-import
import tensorflow as tf  # noqa: F401,E402  pylint: disable=unused-import
import tensorflow_probability  # noqa: F401,E402  pylint: disable=unused-import
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from tfvae.config import ExperimentConfig  # noqa: E402
from tfvae.metrics import diagnostics  # noqa: E402
from tfvae.training import group  # noqa: E402
_IMPORT_CPU = time.process_time() - _START

FLAGS = flags.FLAGS
flags.DEFINE_integer("points", 8, "How many of the betas train as the group.")
flags.DEFINE_list("betas", ["0.25", "0.5", "1", "2", "4", "8", "16", "32"],
                  "The beta grid.")
flags.DEFINE_integer("steps", 3000, "Training steps of every point.")


def main(argv):
  del argv
  cpu = collections.Counter()
  calls = collections.Counter()
  evaluate = diagnostics.evaluate
  make_execution = group._make_execution  # pylint: disable=protected-access

  def timed_evaluate(*args, **kwargs):
    start = time.process_time()
    result = evaluate(*args, **kwargs)
    cpu["periodic evaluations"] += time.process_time() - start
    calls["periodic evaluations"] += 1
    return result

  def timed_make_execution(*args, **kwargs):
    execution = make_execution(*args, **kwargs)

    def timed(iterator):
      start = time.process_time()
      result = execution(iterator)
      name = ("first compiled call (tracing + its steps)"
              if not calls["compiled calls"] else "other compiled calls")
      cpu[name] += time.process_time() - start
      calls["compiled calls"] += 1
      return result
    return timed

  diagnostics.evaluate = timed_evaluate
  group._make_execution = timed_make_execution  # pylint: disable=protected-access
  work = tempfile.mkdtemp(prefix="tfvae_group_phases_")
  try:
    configs = [ExperimentConfig.from_flat(
        dataset="digits", binarization="static", model="vae",
        likelihood="bernoulli", latent_dim=8, steps=FLAGS.steps,
        eval_every=500, beta=float(beta), logdir=f"{work}/beta_{beta}",
        verbose=0).validate() for beta in FLAGS.betas[:FLAGS.points]]
    start, wall = time.process_time(), time.time()
    group.train_group(configs, print_fns=[lambda *_: None] * len(configs))
    total, wall = time.process_time() - start, time.time() - wall
  finally:
    diagnostics.evaluate = evaluate
    group._make_execution = make_execution  # pylint: disable=protected-access
    shutil.rmtree(work, ignore_errors=True)
  print(f"{len(configs)} point(s), {FLAGS.steps} steps, CPU seconds:")
  print(f"| import TensorFlow, Keras, TFP | {_IMPORT_CPU:.1f} |")
  print(f"| train_group (wall {wall:.1f} s) | {total:.1f} |")
  for name, seconds in cpu.items():
    print(f"| {name} | {seconds:.1f} |")
  print(f"| the rest of train_group | {total - sum(cpu.values()):.1f} |")
  print(f"({calls['periodic evaluations']} evaluations, "
        f"{calls['compiled calls']} compiled calls)")


if __name__ == "__main__":
  app.run(main)
