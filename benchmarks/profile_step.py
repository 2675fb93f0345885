#!/usr/bin/env python3
"""Where a training step's time goes: a TensorBoard profiler trace, summarised.

    python benchmarks/profile_step.py                      # conv64, 20 steps
    python benchmarks/profile_step.py --precision=none --logdir=/tmp/prof
    tensorboard --logdir=/tmp/prof                          # the full trace

Trains the 64x64 conv model (dSprites-like, Bernoulli, batch 128) as
`trainer.train` does (tfvae's tf.data pipeline, the per-step NaN guard and
TensorBoard writer, auto steps per execution), warms it up, then records
`--steps` steps with `tf.profiler.experimental` and reads the trace
(`*.xplane.pb`) back:

- the window's wall time, and the part of it spent inside the compiled
  multi-step train function; the rest is Python between calls (Keras' loop,
  callbacks, host reads);
- the compute threads' self time per kind of op: math (convolutions, their
  gradients, matmuls, fused conv/matmul kernels), other ops (elementwise,
  reductions, casts, the optimizer's update), waiting for input
  (`IteratorGetNext*`), and TensorFlow's executor (scheduling);
- the input pipeline's own threads (they run beside the step).
"""

import collections
import glob
import os
import sys
import tempfile
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 20, "Profiled training steps.")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_string("precision", None,
                    "--mixed_precision of the run (default: tfvae's).")
flags.DEFINE_string("logdir", None, "Keep the trace here (default: a "
                    "temporary directory).")

MATH_OPS = ("Conv2D", "Conv2DBackpropFilter", "Conv2DBackpropInput",
            "_FusedConv2D", "MatMul", "_FusedMatMul", "BatchMatMulV2",
            "_MklConv2D", "_MklNativeConv2D", "_MklNativeFusedConv2D",
            "_MklNativeConv2DBackpropFilter", "_MklNativeConv2DBackpropInput",
            "_MklNativeConv2DBackpropFilterWithBias", "_MklMatMul",
            "_MklNativeFusedMatMul", "_MklFusedMatMul", "_MklNativeMatMul")
# Keras' compiled train functions (several steps per call, or one).
TRAIN_FUNCTIONS = ("multi_step_on_iterator", "one_step_on_iterator")
INPUT_OPS = ("IteratorGetNext", "IteratorGetNextAsOptional",
             "OptionalGetValue", "OptionalHasValue")


def self_times(line, names):
  """{event name: self time in ps} of one trace line (nested events)."""
  events = sorted(line.events, key=lambda e: (e.offset_ps, -e.duration_ps))
  totals = collections.Counter()
  stack = []  # (end_ps, name)
  children = collections.Counter()
  for index, event in enumerate(events):
    start, end = event.offset_ps, event.offset_ps + event.duration_ps
    while stack and stack[-1][0] <= start:
      stack.pop()
    if stack:
      children[stack[-1][2]] += event.duration_ps
    stack.append((end, names.get(event.metadata_id, "?"), index))
    totals[index] = event.duration_ps
  result = collections.Counter()
  for index, event in enumerate(events):
    result[names.get(event.metadata_id, "?")] += totals[index] - children[index]
  return result


def op_type(name):
  """The op type of a TensorFlow op event ("scope/name:Type")."""
  return name.rsplit(":", 1)[-1] if ":" in name else name


def summarise(trace_dir):
  """Reads the newest xplane.pb under trace_dir; returns a dict of times (s)."""
  from tensorflow.tsl.profiler.protobuf import xplane_pb2  # pylint: disable=import-outside-toplevel
  path = sorted(glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"),
                          recursive=True))[-1]
  space = xplane_pb2.XSpace()
  with open(path, "rb") as f:
    space.ParseFromString(f.read())
  host = next(p for p in space.planes if p.name == "/host:CPU")
  names = {k: v.name for k, v in host.event_metadata.items()}
  kinds = collections.Counter()
  window = in_function = 0
  # The Python main thread's line is named after the program (or "python").
  main_line = max((l for l in host.lines if not l.name.startswith("tf_")),
                  key=lambda l: sum(e.duration_ps for e in l.events),
                  default=None)
  for line in host.lines:
    if line is main_line:
      starts = [e.offset_ps for e in line.events]
      ends = [e.offset_ps + e.duration_ps for e in line.events]
      window = max(ends) - min(starts) if starts else 0
      in_function = sum(e.duration_ps for e in line.events
                        if names.get(e.metadata_id) in TRAIN_FUNCTIONS)
      continue
    own = self_times(line, names)
    if line.name.startswith("tf_Compute"):
      for name, ps in own.items():
        kind = op_type(name)
        if kind in MATH_OPS:
          kinds["math (conv, matmul)"] += ps
        elif kind in INPUT_OPS:
          kinds["waiting for input"] += ps
        elif name.startswith(("ExecutorState", "ExecutorDoneCallback")):
          kinds["executor (scheduling)"] += ps
        elif ":" in name:
          kinds["other ops (elementwise, reductions, optimizer)"] += ps
        else:
          kinds["other runtime"] += ps
    elif line.name.startswith(("tf_data", "tf_data_private")):
      kinds["input pipeline threads (beside the step)"] += sum(own.values())
  return {"window": window / 1e12, "in_function": in_function / 1e12,
          "kinds": {k: v / 1e12 for k, v in kinds.items()}}


def profile(steps, batch_size, precision, logdir):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from tfvae.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
  from tfvae.data import datasets  # pylint: disable=import-outside-toplevel
  from tfvae.data import pipeline  # pylint: disable=import-outside-toplevel
  from tfvae.callbacks import training as cb  # pylint: disable=import-outside-toplevel
  from tfvae import precision as precision_lib  # pylint: disable=import-outside-toplevel
  from tfvae.training import trainer  # pylint: disable=import-outside-toplevel
  values = dict(dataset="dsprites", architecture="conv",
                likelihood="bernoulli", latent_dim=10, batch_size=batch_size)
  if precision is not None:
    values["mixed_precision"] = precision
  config = ExperimentConfig.from_flat(**values).validate()
  used = precision_lib.set_policy(config.runtime.mixed_precision)
  data = datasets.load_data(config)
  model = trainer.build_compiled_model(config, data.image_shape)
  spe = trainer.requested_steps_per_execution(config)
  steps = max(spe, steps // spe * spe)
  model.steps_per_execution = spe
  train_ds = pipeline.train_dataset(data, batch_size, config.training.seed)
  writer = tf.summary.create_file_writer(os.path.join(logdir, "scalars"))
  callbacks = [cb.NonFiniteGuard(), cb.BatchScalars(writer, config.runtime.log_every)]
  model.fit(train_ds, epochs=1, steps_per_epoch=steps, callbacks=callbacks,
            verbose=0)
  trace_dir = os.path.join(logdir, "trace")
  tf.profiler.experimental.start(trace_dir)
  started = time.perf_counter()
  model.fit(train_ds, epochs=1, steps_per_epoch=steps, callbacks=callbacks,
            verbose=0)
  wall = time.perf_counter() - started
  tf.profiler.experimental.stop()
  return used, spe, steps, wall, summarise(trace_dir)


def main(argv):
  del argv
  logdir = FLAGS.logdir or tempfile.mkdtemp(prefix="tfvae_profile_")
  used, spe, steps, wall, summary = profile(FLAGS.steps, FLAGS.batch_size,
                                            FLAGS.precision, logdir)
  window = summary["window"] or wall
  print(f"conv64, batch {FLAGS.batch_size}, precision {used}, {steps} steps "
        f"({spe} per call), {wall:.2f} s wall under the profiler; trace in "
        f"{logdir}/trace\n")
  print("| where | seconds | share |\n|---|---:|---:|")
  print(f"| profiled window (Python thread) | {window:.3f} | 100% |")
  print(f"| inside the compiled train function | {summary['in_function']:.3f}"
        f" | {100 * summary['in_function'] / window:.1f}% |")
  outside = window - summary["in_function"]
  print(f"| Python between calls (Keras loop, callbacks, host reads) | "
        f"{outside:.3f} | {100 * outside / window:.1f}% |")
  compute = sum(v for k, v in summary["kinds"].items()
                if not k.startswith("input pipeline"))
  print("\nCompute threads' self time (summed over threads):\n")
  print("| kind | seconds | share of compute |\n|---|---:|---:|")
  for kind, seconds in sorted(summary["kinds"].items(), key=lambda kv: -kv[1]):
    share = (f"{100 * seconds / compute:.1f}%" if not
             kind.startswith("input pipeline") else "(beside)")
    print(f"| {kind} | {seconds:.3f} | {share} |")


if __name__ == "__main__":
  app.run(main)
