#!/usr/bin/env python3
"""Training throughput of tfvae against the VAE code people copy today.

    python benchmarks/throughput.py            # full run (several minutes)
    python benchmarks/throughput.py --quick    # short check

Baseline: a VAE written in the plain style of the official Keras VAE example
(conv 32-64 with kernel 3 and stride 2, dense 16, latent 2, a `Sampling`
layer, a custom `train_step` with the BCE summed over the 28x28 pixels plus
the KL, trackers, `fit` on float32 arrays, no XLA), rewritten here from that
description. tfvae trains the *same* networks and loss (`ReferenceVAE` with
`rec="bce"` is exactly that objective) through its own machinery: uint8 data
in a tf.data pipeline, the per-step TensorBoard/NaN callbacks of a run, and
its default `--jit_compile` / `--steps_per_execution`. Both run in this
process, interleaved, on the same images:

- 28x28: the 1797 scikit-learn digits upsampled to 28x28 (uint8), batch 128;
- 64x64: the beta-VAE conv network of `tfvae.networks` (32-32-64-64, dense
  256, latent 10, Bernoulli) on dSprites-like images (`tfvae.data.dsprites`),
  batch 64; tfvae streams the images, the baseline holds them as floats.

A third 28x28 row feeds the example's own model from tfvae's input pipeline,
to show how much of a difference is the input pipeline.

FLOPs per training step are counted from the layer shapes: 2 * multiply-adds
of every Dense / Conv2D / Conv2DTranspose layer per example, times 3 for the
forward pass plus the two backward products, times the batch; elementwise
ops are ignored. The achieved FLOP/s is compared with this machine's dense
matmul peak, measured here with large float32 `tf.matmul`s.

A second table measures tfvae's speed switches (XLA, steps per execution,
per-step logging) on the digits mlp and the 64x64 conv model: the evidence
for the defaults in `tfvae.config`.

Images/s is the best of `--repeats` timed runs (interleaved, so a busy
machine slows every variant alike); ratios divide those bests.
"""

import os
import platform
import sys
import tempfile
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

from tfvae.config import ExperimentConfig  # pylint: disable=wrong-import-position
from tfvae.data import datasets  # pylint: disable=wrong-import-position
from tfvae.data import pipeline  # pylint: disable=wrong-import-position
from tfvae.models.reference import ReferenceVAE  # pylint: disable=wrong-import-position
from tfvae import networks  # pylint: disable=wrong-import-position
from tfvae.training import callbacks as cb  # pylint: disable=wrong-import-position
from tfvae.training import trainer  # pylint: disable=wrong-import-position

FLAGS = flags.FLAGS
flags.DEFINE_bool("quick", False, "Short run: fewer steps and repeats.")
flags.DEFINE_integer("repeats", 5, "Timed runs per variant (best counts).")
flags.DEFINE_bool("settings", True, "Also measure tfvae's speed switches.")
flags.DEFINE_string("out", None, "Also write the Markdown tables here.")

MNIST_SIDE = 28
KERAS_EXAMPLE_LATENT = 2
DSPRITES_LATENT = 10


# ------------------------------------------------- the Keras-example baseline


class Sampling(keras.layers.Layer):
  """z = z_mean + exp(z_log_var / 2) * epsilon."""

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.seed_generator = keras.random.SeedGenerator(1337)

  def call(self, inputs):
    z_mean, z_log_var = inputs
    epsilon = keras.random.normal(tf.shape(z_mean), seed=self.seed_generator)
    return z_mean + tf.exp(0.5 * z_log_var) * epsilon


class KerasExampleVAE(keras.Model):
  """The example's model: encoder, sampling, decoder and a custom train_step."""

  def __init__(self, encoder, decoder, **kwargs):
    super().__init__(**kwargs)
    self.encoder = encoder
    self.decoder = decoder
    self.sampling = Sampling()
    self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
    self.reconstruction_loss_tracker = keras.metrics.Mean(
        name="reconstruction_loss")
    self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

  @property
  def metrics(self):
    return [self.total_loss_tracker, self.reconstruction_loss_tracker,
            self.kl_loss_tracker]

  def train_step(self, data):
    with tf.GradientTape() as tape:
      z_mean, z_log_var = self.encoder(data)
      z = self.sampling([z_mean, z_log_var])
      reconstruction = self.decoder(z)
      # Per-pixel BCE summed over the image: mean BCE * 28 * 28.
      reconstruction_loss = tf.reduce_mean(tf.reduce_sum(
          keras.losses.binary_crossentropy(data, reconstruction),
          axis=(1, 2)))
      kl_loss = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
      kl_loss = tf.reduce_mean(tf.reduce_sum(kl_loss, axis=1))
      total_loss = reconstruction_loss + kl_loss
    grads = tape.gradient(total_loss, self.trainable_weights)
    self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
    self.total_loss_tracker.update_state(total_loss)
    self.reconstruction_loss_tracker.update_state(reconstruction_loss)
    self.kl_loss_tracker.update_state(kl_loss)
    return {m.name: m.result() for m in self.metrics}


def keras_example_encoder(image_shape, latent_dim=KERAS_EXAMPLE_LATENT):
  inputs = keras.Input(shape=image_shape)
  x = keras.layers.Conv2D(32, 3, activation="relu", strides=2,
                          padding="same")(inputs)
  x = keras.layers.Conv2D(64, 3, activation="relu", strides=2,
                          padding="same")(x)
  x = keras.layers.Flatten()(x)
  x = keras.layers.Dense(16, activation="relu")(x)
  z_mean = keras.layers.Dense(latent_dim, name="z_mean")(x)
  z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(x)
  return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def keras_example_decoder(image_shape, latent_dim=KERAS_EXAMPLE_LATENT,
                          activation="sigmoid"):
  side = image_shape[0] // 4
  inputs = keras.Input(shape=(latent_dim,))
  x = keras.layers.Dense(side * side * 64, activation="relu")(inputs)
  x = keras.layers.Reshape((side, side, 64))(x)
  x = keras.layers.Conv2DTranspose(64, 3, activation="relu", strides=2,
                                   padding="same")(x)
  x = keras.layers.Conv2DTranspose(32, 3, activation="relu", strides=2,
                                   padding="same")(x)
  outputs = keras.layers.Conv2DTranspose(image_shape[-1], 3,
                                         activation=activation,
                                         padding="same")(x)
  return keras.Model(inputs, outputs, name="decoder")


def baseline_model(encoder, decoder):
  model = KerasExampleVAE(encoder, decoder)
  model.compile(optimizer=keras.optimizers.Adam())
  return model


# -------------------------------------------------------------- FLOP counting


def forward_multiply_adds(model):
  """Multiply-adds of one example through the Dense/Conv layers of `model`."""
  total = 0
  for layer in model.layers:
    if isinstance(layer, keras.layers.Dense):
      total += int(layer.kernel.shape[0]) * int(layer.kernel.shape[1])
    elif isinstance(layer, keras.layers.Conv2DTranspose):
      # Every input pixel scatters a k x k x c_out patch per input channel.
      h, w, c_in = (int(d) for d in layer.input.shape[1:])
      kh, kw, c_out, _ = (int(d) for d in layer.kernel.shape)
      total += h * w * c_in * kh * kw * c_out
    elif isinstance(layer, keras.layers.Conv2D):
      h, w, c_out = (int(d) for d in layer.output.shape[1:])
      kh, kw, c_in, _ = (int(d) for d in layer.kernel.shape)
      total += h * w * c_out * kh * kw * c_in
  return total


def train_flops_per_step(encoder, decoder, batch_size):
  """~3x the forward FLOPs (forward, input and weight gradients) per step."""
  multiply_adds = forward_multiply_adds(encoder) + forward_multiply_adds(
      decoder)
  return 3 * 2 * multiply_adds * batch_size


def matmul_peak_flops(quick):
  """Best dense float32 matmul FLOP/s over a few large sizes."""
  best = 0.0
  sizes = (1024, 2048) if quick else (1024, 2048, 4096)
  product = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
  for n in sizes:
    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    product(a, b).numpy()
    for _ in range(3 if quick else 10):
      start = time.perf_counter()
      product(a, b).numpy()
      best = max(best, 2.0 * n**3 / (time.perf_counter() - start))
  return best


# ------------------------------------------------------------------- timing


class Runner:
  """One variant: warm up (compile) once, then time `steps` training steps."""

  def __init__(self, name, fit_steps, batch_size):
    self.name = name
    self.fit_steps = fit_steps
    self.batch_size = batch_size
    self.rates = []

  def warm_up(self, steps):
    self.fit_steps(steps)

  def time(self, steps):
    start = time.perf_counter()
    self.fit_steps(steps)
    self.rates.append(steps * self.batch_size / (time.perf_counter() - start))

  @property
  def best(self):
    return max(self.rates)


def baseline_runner(name, encoder, decoder, images_float, batch_size):
  """`fit` on a float32 array, as the example does (one epoch per pass)."""
  model = baseline_model(encoder, decoder)
  per_epoch = images_float.shape[0] // batch_size

  def fit_steps(steps):
    epochs = max(1, steps // per_epoch)
    model.fit(images_float[:per_epoch * batch_size], epochs=epochs,
              batch_size=batch_size, verbose=0)

  return Runner(name, fit_steps, batch_size), per_epoch


def tfvae_runner(name, model, data, config, spe, log_every=None,
                 with_callbacks=True):
  """tfvae's pipeline and per-step callbacks, as `trainer.train` sets them."""
  train_ds = pipeline.train_dataset(data, config.training.batch_size, config.training.seed,
                                    config.data.binarization)
  model.steps_per_execution = spe
  logdir = tempfile.mkdtemp(prefix="tfvae_bench_")
  writer = tf.summary.create_file_writer(logdir)
  callbacks = []
  if with_callbacks:
    callbacks = [cb.NonFiniteGuard(),
                 cb.BatchScalars(writer, log_every or config.runtime.log_every)]

  def fit_steps(steps):
    model.fit(train_ds, epochs=1, steps_per_epoch=steps, callbacks=callbacks,
              verbose=0)

  return Runner(name, fit_steps, config.training.batch_size)


def pipeline_runner(data, config):
  """tfvae's input pipeline alone: how fast batches can arrive."""
  iterator = iter(pipeline.train_dataset(data, config.training.batch_size, config.training.seed,
                                         config.data.binarization))

  def fit_steps(steps):
    for _ in range(steps):
      next(iterator)

  return Runner("input pipeline alone (no training)", fit_steps,
                config.training.batch_size)


def run_interleaved(runners, steps, repeats):
  for runner in runners:
    runner.warm_up(steps)
  for _ in range(repeats):
    for runner in runners:
      runner.time(steps)


def round_to(steps, multiple):
  return max(multiple, (steps // multiple) * multiple)


# ---------------------------------------------------------------- workloads


def digits_28x28():
  """The 1797 digits, bilinearly upsampled to 28x28, as uint8 0..255."""
  images = datasets.load_digits()[0].astype(np.float32) / 16.0
  images = tf.image.resize(images, (MNIST_SIDE, MNIST_SIDE)).numpy()
  return np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)


def in_memory_data(images, name):
  return datasets.ImageData(name=name, train=images, validation=images[:8],
                            scale=1.0 / 255.0, support="unit",
                            num_train=int(images.shape[0]))


def compare_28x28(steps, repeats):
  batch = 128
  images = digits_28x28()
  config = ExperimentConfig.from_flat(
      batch_size=batch, model="reference", reference_rec="bce").validate()
  spe = trainer.requested_steps_per_execution(config)
  baseline, per_epoch = baseline_runner(
      "Keras example (fit, float32 arrays, no XLA)",
      keras_example_encoder(images.shape[1:]),
      keras_example_decoder(images.shape[1:]),
      images.astype(np.float32) / 255.0, batch)
  steps = round_to(steps, per_epoch * spe // np.gcd(per_epoch, spe))
  keras.utils.set_random_seed(0)
  model = ReferenceVAE(keras_example_encoder(images.shape[1:]),
                       keras_example_decoder(images.shape[1:], activation=None),
                       images.shape[1:], KERAS_EXAMPLE_LATENT, rec="bce")
  model.compile(optimizer=keras.optimizers.Adam(config.training.learning_rate),
                jit_compile=config.runtime.jit_compile, steps_per_execution=spe)
  ours = tfvae_runner(f"tfvae ReferenceVAE(bce), defaults "
                      f"(jit_compile={config.runtime.jit_compile}, "
                      f"steps_per_execution={spe})",
                      model, in_memory_data(images, "digits28"), config, spe)

  # Where a difference comes from: the example's model on tfvae's pipeline.
  data = in_memory_data(images, "digits28")
  fed = baseline_model(keras_example_encoder(images.shape[1:]),
                       keras_example_decoder(images.shape[1:]))
  fed_ds = pipeline.train_dataset(data, batch, config.training.seed)
  fed_runner = Runner(
      "Keras example model fed by tfvae's uint8 tf.data pipeline",
      lambda n: fed.fit(fed_ds, epochs=1, steps_per_epoch=n, verbose=0), batch)
  run_interleaved([baseline, ours, fed_runner], steps, repeats)
  flops = train_flops_per_step(model.encoder, model.decoder, batch)
  return "28x28 upsampled digits, Keras-example networks, batch 128", \
      baseline, [ours, fed_runner], flops


def compare_dsprites(steps, repeats, num_images):
  batch = 64
  config = ExperimentConfig.from_flat(
      dataset="dsprites", architecture="conv", likelihood="bernoulli",
      latent_dim=DSPRITES_LATENT, batch_size=batch).validate()
  data = datasets.load_data(config)
  spe = trainer.requested_steps_per_execution(config)
  # The baseline holds the first images of the same shuffled index set.
  subset = data.stream.indices[:num_images]
  images = data.stream.source.images(subset).astype(np.float32)
  shape = data.image_shape
  baseline_decoder = keras.Sequential([
      networks.build_decoder(shape, DSPRITES_LATENT, 1, "conv"),
      keras.layers.Activation("sigmoid")])
  baseline, per_epoch = baseline_runner(
      "Keras-example style (fit, float32 arrays, no XLA)",
      networks.build_encoder(shape, DSPRITES_LATENT, "conv"),
      baseline_decoder, images, batch)
  steps = round_to(steps, per_epoch * spe // np.gcd(per_epoch, spe))
  keras.utils.set_random_seed(0)
  model = trainer.build_compiled_model(config, shape)
  ours = tfvae_runner(f"tfvae VAE(bernoulli, conv), streamed dSprites-like, "
                      f"defaults (jit_compile={config.runtime.jit_compile}, "
                      f"steps_per_execution={spe})", model, data, config, spe)
  run_interleaved([baseline, ours], steps, repeats)
  flops = train_flops_per_step(model.encoder, model.decoder, batch)
  return "64x64 dSprites-like, beta-VAE conv networks, batch 64", \
      baseline, [ours], flops


def settings(steps_digits, steps_conv, repeats, quick=False):
  """tfvae's switches, each on the library's own model and pipeline."""
  rows = []
  workloads = (
      ("digits 8x8, mlp (the default run), batch 64",
       ExperimentConfig().validate(), steps_digits),
      ("64x64 dSprites-like, conv, batch 64",
       ExperimentConfig.from_flat(
           dataset="dsprites", architecture="conv", likelihood="bernoulli",
           latent_dim=DSPRITES_LATENT, batch_size=64).validate(),
       steps_conv),
  )
  auto = trainer.AUTO_STEPS_PER_EXECUTION
  variants = (
      ("jit off, 1 step/call, no callbacks", False, 1, 1, False),
      ("jit off, 1 step/call, log every step", False, 1, 1, True),
      ("jit off, 1 step/call, log every 100 steps", False, 1, 100, True),
      ("jit off, 10 steps/call, log every step", False, 10, 1, True),
      (f"jit off, {auto} steps/call, log every step (default)", False, auto,
       1, True),
      ("jit on, 1 step/call, log every step", True, 1, 1, True),
      (f"jit on, {auto} steps/call, log every step", True, auto, 1, True),
  )
  if quick:
    variants = variants[1:2] + variants[4:5] + variants[6:]
  for title, base_config, steps in workloads:
    data = datasets.load_data(base_config)
    runners = []
    for label, jit, spe, log_every, with_callbacks in variants:
      config = base_config.replace_flat(
          jit_compile=jit, steps_per_execution=spe).validate()
      keras.utils.set_random_seed(0)
      model = trainer.build_compiled_model(config, data.image_shape)
      runners.append(tfvae_runner(label, model, data, config, spe, log_every,
                                  with_callbacks))
    runners.append(pipeline_runner(data, base_config))
    multiple = int(np.lcm.reduce([variant[2] for variant in variants]))
    run_interleaved(runners, round_to(steps, multiple), repeats)
    rows.append((title, runners))
  return rows


# ------------------------------------------------------------------ report


def machine_lines():
  cpu = "unknown"
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next((line.split(":", 1)[1].strip() for line in f
                  if line.startswith("model name")), cpu)
  except OSError:
    pass
  gpus = tf.config.list_physical_devices("GPU")
  return [f"- CPU: {cpu}, {os.cpu_count()} logical cores (nproc)",
          f"- GPU: {', '.join(g.name for g in gpus) if gpus else 'none'}",
          f"- TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"Python {platform.python_version()}"]


def comparison_table(results, peak):
  lines = ["| workload | implementation | images/s | ratio | FLOPs/step | "
           "GFLOP/s | % of matmul peak |",
           "|---|---|---:|---:|---:|---:|---:|"]
  for title, baseline, others, flops in results:
    for runner in [baseline] + others:
      achieved = runner.best / runner.batch_size * flops
      ratio = runner.best / baseline.best
      lines.append(f"| {title} | {runner.name} | {runner.best:,.0f} | "
                   f"{ratio:.2f}x | {flops / 1e9:.3f} G | "
                   f"{achieved / 1e9:.1f} | {100 * achieved / peak:.1f}% |")
  return lines


def settings_table(rows):
  lines = ["| workload | tfvae setting | images/s | vs. 1 step/call, log "
           "every step |", "|---|---|---:|---:|"]
  for title, runners in rows:
    reference = next(r.best for r in runners
                     if r.name == "jit off, 1 step/call, log every step")
    for runner in runners:
      lines.append(f"| {title} | {runner.name} | {runner.best:,.0f} | "
                   f"{runner.best / reference:.2f}x |")
  return lines


def main(argv):
  del argv
  quick = FLAGS.quick
  repeats = 1 if quick else FLAGS.repeats
  started = time.time()
  peak = matmul_peak_flops(quick)
  results = [compare_28x28(56 if quick else 280, repeats),
             compare_dsprites(10 if quick else 60, repeats,
                              num_images=640 if quick else 3840)]
  rows = []
  if FLAGS.settings:
    rows = settings(200 if quick else 2000, 10 if quick else 100, repeats,
                    quick)
  # Measured again at the end: a burst of throttling can hide the peak.
  peak = max(peak, matmul_peak_flops(quick))
  lines = ["## Throughput (benchmarks/throughput.py"
           f"{' --quick' if quick else ''})", ""] + machine_lines() + [
               f"- dense float32 matmul peak: {peak / 1e9:.1f} GFLOP/s", ""]
  lines += comparison_table(results, peak)
  if rows:
    lines += ["", "### tfvae speed switches", ""] + settings_table(rows)
  lines += ["", f"(measured in {time.time() - started:.0f} s; best of "
            f"{repeats} interleaved run(s) per row)"]
  text = "\n".join(lines)
  print(text)
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      f.write(text + "\n")


if __name__ == "__main__":
  app.run(main)
