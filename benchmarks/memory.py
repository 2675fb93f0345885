#!/usr/bin/env python3
"""Peak resident memory of one training epoch over the full dSprites-like set.

    python benchmarks/memory.py                      # 737,280 images (slow)
    python benchmarks/memory.py --max_images=20000   # quick check

Runs `tfvae.training.trainer.train` for one epoch on `--dataset=dsprites`
(the procedural dSprites-like set, 737,280 images of 64x64; 2048 held out
for validation) while a thread samples this process's resident set size
(psutil) every few milliseconds. The images are rendered batch by batch in
the tf.data pipeline and never held in memory as a whole: as uint8 they
would take 3.0 GB, as float32 12.1 GB. The target is a peak of at most 4 GB.
"""

import os
import sys
import tempfile
import threading
import time

from absl import app
from absl import flags
import psutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS
flags.DEFINE_integer("max_images", None,
                     "Use only this many images (default: all 737,280).")
flags.DEFINE_integer("batch_size", 256, "Training batch size.")
flags.DEFINE_enum("architecture", "conv", ["conv", "mlp"], "Network.")
flags.DEFINE_float("sample_seconds", 0.005, "RSS sampling interval.")

TARGET_BYTES = 4 * 1024**3
GIB = 1024.0**3


class PeakRss:
  """Samples the resident set size of this process in a background thread."""

  def __init__(self, interval):
    self.interval = interval
    self.process = psutil.Process()
    self.peak = self.process.memory_info().rss
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, daemon=True)

  def _run(self):
    while not self._stop.is_set():
      self.peak = max(self.peak, self.process.memory_info().rss)
      time.sleep(self.interval)

  def __enter__(self):
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()
    self.peak = max(self.peak, self.process.memory_info().rss)


def main(argv):
  del argv
  sampler = PeakRss(FLAGS.sample_seconds)
  with sampler:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from tfvae.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
    from tfvae.data import dsprites  # pylint: disable=import-outside-toplevel
    from tfvae.training import trainer  # pylint: disable=import-outside-toplevel
    after_import = psutil.Process().memory_info().rss
    logdir = tempfile.mkdtemp(prefix="tfvae_memory_")
    config = ExperimentConfig.from_flat(
        dataset="dsprites", architecture=FLAGS.architecture,
        likelihood="bernoulli", latent_dim=10, batch_size=FLAGS.batch_size,
        epochs=1, max_examples=FLAGS.max_images, logdir=logdir, overwrite=True,
        verbose=0)
    num_images = min(FLAGS.max_images or dsprites.NUM_IMAGES,
                     dsprites.NUM_IMAGES)
    # Evaluate and checkpoint once, at the end of the epoch.
    held_out = min(max(1, round(num_images * config.data.validation_fraction)),
                   2048, num_images - 1)  # As `datasets.load_data` does.
    steps = trainer.total_steps(config, num_images - held_out)
    config.run.eval_every = config.run.checkpoint_every = max(1, steps)
    started = time.time()
    final = trainer.train(config.validate(), print_fn=lambda *a: None)
    seconds = time.time() - started
  images = final["step"] * config.training.batch_size
  option = "" if FLAGS.max_images is None else \
      f" --max_images={FLAGS.max_images}"
  lines = [
      f"## Memory (benchmarks/memory.py{option})",
      "",
      f"- data: dSprites-like, {num_images:,} images of 64x64 "
      f"({final['num_examples']:,} held out), uint8 size "
      f"{num_images * 4096 / GIB:.2f} GiB, float32 "
      f"{num_images * 4096 * 4 / GIB:.2f} GiB",
      f"- model: {FLAGS.architecture}, batch {config.training.batch_size}, "
      f"{final['step']:,} steps = one epoch ({images:,} images), "
      f"TensorFlow {tf.__version__}",
      f"- resident memory after imports: {after_import / GIB:.2f} GiB",
      f"- peak resident memory: {sampler.peak / GIB:.2f} GiB "
      f"(target <= {TARGET_BYTES / GIB:.0f} GiB: "
      f"{'met' if sampler.peak <= TARGET_BYTES else 'NOT met'})",
      f"- wall time: {seconds:.0f} s ({images / seconds:,.0f} images/s "
      "including evaluation and checkpoint)",
      f"- final validation -ELBO: {final['neg_elbo']:.2f} nats",
  ]
  print("\n".join(lines))
  return 0 if sampler.peak <= TARGET_BYTES else 1


if __name__ == "__main__":
  app.run(main)
