#!/usr/bin/env python3
"""Images/s of the library path: `vae.compile(optimizer="adam")` + `fit`.

    python benchmarks/library_defaults.py            # 7 interleaved repeats
    python benchmarks/library_defaults.py --repeats=3 --epochs=5

Before: one step per call (`compile(..., steps_per_execution=1)`, what
`compile(optimizer="adam")` gave before it took the CLI's settings). After:
the new default, `compile(optimizer="adam")` (the CLI's automatic steps per
call, lowered by `fit` to divide the epoch, and `jit_compile=False`). Both
train `tfvae.VAE` with the CLI's default networks (`tfvae.networks`: the mlp
with 256 hidden units, latent 8) and Gaussian likelihood on scikit-learn's
8x8 digits in [0, 1], batch 64, from the same seed; each timed run is a
fresh model's `fit` of `--epochs` epochs after one untimed epoch (tracing).
Runs alternate between the variants, so a loaded machine slows all alike;
the median and the spread (min-max) of images/s and the ratios to the first
are printed, with the CPU and the load average.

A third variant is the new default without `execution.epoch_of_arrays`
(switched off in this process only): Keras' epoch loop then makes two data
iterators an epoch instead of one, what `fit` on arrays cost before it
passed the epoch's step count.
"""

import contextlib
import os
import statistics
import sys
import time
from unittest import mock

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS
flags.DEFINE_integer("repeats", 7, "Timed runs per variant (interleaved).")
flags.DEFINE_integer("epochs", 5, "Timed epochs per run.")
flags.DEFINE_integer("batch_size", 64, "Batch size (the CLI's default).")

# (name, compile arguments, fit passes the epoch's step count)
VARIANTS = (("before: steps_per_execution=1", {"steps_per_execution": 1},
             True),
            ("compile(optimizer=\"adam\"), two iterators an epoch", {},
             False),
            ("after: compile(optimizer=\"adam\")", {}, True))


def _cpu():
  model, flags_line = "unknown", ""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name") and model == "unknown":
          model = line.split(":", 1)[1].strip()
        if line.startswith("flags") and not flags_line:
          flags_line = line
  except OSError:
    pass
  have = set(flags_line.split(":", 1)[-1].split())
  wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16")
  return model, ", ".join(f"{w} {'yes' if w in have else 'no'}"
                          for w in wanted)


def _images():
  from sklearn import datasets  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  images = datasets.load_digits().images.astype(np.float32) / 16.0
  return images[..., None]


def _model(compile_args):
  import keras  # pylint: disable=import-outside-toplevel
  import tfvae  # pylint: disable=import-outside-toplevel
  from tfvae import networks  # pylint: disable=import-outside-toplevel
  keras.utils.set_random_seed(0)
  encoder = networks.build_encoder((8, 8, 1), 8)
  decoder = networks.build_decoder((8, 8, 1), 8)
  vae = tfvae.VAE(encoder, decoder)
  vae.compile(optimizer="adam", **compile_args)
  return vae


def _timed_run(images, compile_args, epochs, batch_size, epoch_steps):
  from tfvae.models import execution  # pylint: disable=import-outside-toplevel
  switch = (contextlib.nullcontext() if epoch_steps else
            mock.patch.object(execution, "epoch_of_arrays",
                              lambda *args: {}))
  with switch:
    vae = _model(compile_args)
    vae.fit(images, epochs=1, batch_size=batch_size, verbose=0)  # tracing
    start = time.perf_counter()
    vae.fit(images, epochs=epochs, batch_size=batch_size, verbose=0)
    seconds = time.perf_counter() - start
  return len(images) * epochs / seconds, vae.steps_per_execution


def main(argv):
  del argv
  import keras  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  images = _images()
  model, cpu_flags = _cpu()
  print(f"CPU: {model}, {os.cpu_count()} logical cores; {cpu_flags}")
  print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}")
  print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
  rates = {name: [] for name, _, _ in VARIANTS}
  used = {}
  for _ in range(FLAGS.repeats):
    for name, compile_args, epoch_steps in VARIANTS:
      rate, used[name] = _timed_run(images, compile_args, FLAGS.epochs,
                                    FLAGS.batch_size, epoch_steps)
      rates[name].append(rate)
  print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
  print(f"digits mlp, {len(images)} images, batch {FLAGS.batch_size}, "
        f"{FLAGS.epochs} epochs per run, {FLAGS.repeats} interleaved runs")
  print("| variant | steps per call in fit | images/s (median) | min-max |")
  print("|---|---|---|---|")
  for name, _, _ in VARIANTS:
    values = rates[name]
    print(f"| {name} | {used[name]} | {statistics.median(values):.0f} | "
          f"{min(values):.0f}-{max(values):.0f} |")
  after = VARIANTS[-1][0]
  for name, _, _ in VARIANTS[:-1]:
    ratios = [b / a for a, b in zip(rates[name], rates[after])]
    median = statistics.median(rates[after]) / statistics.median(rates[name])
    print(f"ratio after / {name}: median {median:.2f}x (per run "
          f"{min(ratios):.2f}-{max(ratios):.2f}x)")


if __name__ == "__main__":
  app.run(main)
