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
  batch 128; tfvae streams the images, the baseline holds them as floats.

The baseline runs in float32. tfvae runs in float32 and, where `auto` picks
it (a CPU with AVX512-BF16/AMX, a GPU of compute capability >= 8.0), in
mixed bfloat16: the float32-only ratio and the default-precision ratio
stand side by side.

A third 28x28 row feeds the example's own model from tfvae's input pipeline,
to show how much of a difference is the input pipeline.

FLOPs per training step are counted from the layer shapes: 2 * multiply-adds
of every Dense / Conv2D / Conv2DTranspose layer per example, times 3 for the
forward pass plus the two backward products, times the batch; elementwise
ops are ignored. The achieved FLOP/s is compared with this machine's dense
matmul peaks, measured here with large `tf.matmul`s in float32 and bfloat16.

The layers alone: for each precision, a row times the networks' math
kernels and nothing else: every Dense / Conv2D / Conv2DTranspose layer's
forward pass and the gradients a training step takes (weights, bias, and the
input's except for the encoder's first layer), one layer after another on
random inputs of its shape; no loss, optimizer, input pipeline or callbacks.
A training step that runs near this speed spends its time in the kernels.
(It is not a strict ceiling: a real step may overlap independent gradient
ops, which the sequence here does not.) For the 64x64 networks each layer is
also timed alone (its share, its FLOP/s and the percentage of its
precision's peak): where the distance to the peak is.

Start-up: the seconds and resident memory of a bare
`import tensorflow, keras, tensorflow_probability` against the same plus
what `scripts/train.py` imports before training, each in a fresh
subprocess, `--startup_repeats` times, alternating which goes first, after
one untimed run of each.

A second table measures tfvae's speed switches (XLA, steps per execution,
per-step logging, a linear KL warm-up at 1 and at the auto steps per call,
precision) on the digits mlp and the 64x64 conv model: the evidence for the
defaults in `tfvae.config`.

Images/s is the best of `--repeats` timed runs (interleaved, so a busy
machine slows every variant alike); ratios divide those bests.
"""

import math
import os
import platform
import statistics
import subprocess
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

from tfvae import precision  # pylint: disable=wrong-import-position
from tfvae.config import ExperimentConfig  # pylint: disable=wrong-import-position
from tfvae.data import datasets  # pylint: disable=wrong-import-position
from tfvae.data import pipeline  # pylint: disable=wrong-import-position
from tfvae.models.reference import ReferenceVAE  # pylint: disable=wrong-import-position
from tfvae import networks  # pylint: disable=wrong-import-position
from tfvae.callbacks import training as cb  # pylint: disable=wrong-import-position
from tfvae.training import trainer  # pylint: disable=wrong-import-position

import keras_example  # pylint: disable=wrong-import-position

FLAGS = flags.FLAGS
flags.DEFINE_bool("quick", False, "Short run: fewer steps and repeats.")
flags.DEFINE_integer("repeats", 5, "Timed runs per variant (best counts; "
                     "--quick: 1 unless given).")
flags.DEFINE_bool("settings", True, "Also measure tfvae's speed switches.")
flags.DEFINE_bool("layers_only", False,
                  "Only the 64x64 networks' layers alone and each layer's "
                  "share (a few minutes): e.g. to compare TensorFlow's CPU "
                  "kernels, TF_ENABLE_ONEDNN_OPTS=0 against the default.")
flags.DEFINE_bool("parts", False,
                  "Only the 64x64 CLI run taken apart (a few minutes): the "
                  "input pipeline alone (dSprites stream and in-memory "
                  "uint8), the step alone on one cached batch, both, the "
                  "Keras-example step, and the one-off costs (data set-up, "
                  "final evaluation); wall and CPU seconds, interleaved.")
flags.DEFINE_integer("parts_batch", 64, "--parts: batch size (the CLI's "
                     "default).")
flags.DEFINE_integer("parts_steps", 20, "--parts: steps per timed run.")
flags.DEFINE_string("out", None, "Also write the Markdown tables here.")
flags.DEFINE_integer("startup_repeats", 5, "Subprocess imports per variant.")

DSPRITES_LATENT = 10
DSPRITES_BATCH = 128
REFERENCE_SETTING = "jit off, 1 step/call, log every step"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BARE_IMPORTS = "import tensorflow, keras, tensorflow_probability"
# What scripts/train.py imports before its first training step.
TFVAE_IMPORTS = (BARE_IMPORTS + "; import absl.flags; from tfvae import config"
                 "; from tfvae.training import preflight, trainer")


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


def baseline_model(encoder, decoder):
  model = KerasExampleVAE(encoder, decoder)
  model.compile(optimizer=keras.optimizers.Adam())
  return model


# -------------------------------------------------------------- FLOP counting


MATH_LAYERS = (keras.layers.Dense, keras.layers.Conv2D,
               keras.layers.Conv2DTranspose)


def layer_multiply_adds(layer):
  """Multiply-adds of one example through a Dense/Conv layer."""
  if isinstance(layer, keras.layers.Dense):
    return int(layer.kernel.shape[0]) * int(layer.kernel.shape[1])
  if isinstance(layer, keras.layers.Conv2DTranspose):
    # Every input pixel scatters a k x k x c_out patch per input channel.
    h, w, c_in = (int(d) for d in layer.input.shape[1:])
    kh, kw, c_out, _ = (int(d) for d in layer.kernel.shape)
    return h * w * c_in * kh * kw * c_out
  h, w, c_out = (int(d) for d in layer.output.shape[1:])
  kh, kw, c_in, _ = (int(d) for d in layer.kernel.shape)
  return h * w * c_out * kh * kw * c_in


def forward_multiply_adds(model):
  """Multiply-adds of one example through the Dense/Conv layers of `model`."""
  return sum(layer_multiply_adds(layer) for layer in model.layers
             if isinstance(layer, MATH_LAYERS))


def train_flops_per_step(encoder, decoder, batch_size):
  """~3x the forward FLOPs (forward, input and weight gradients) per step."""
  multiply_adds = forward_multiply_adds(encoder) + forward_multiply_adds(
      decoder)
  return 3 * 2 * multiply_adds * batch_size


def matmul_peak_flops(quick, dtype=tf.float32):
  """Best dense matmul FLOP/s in `dtype` over a few large sizes."""
  best = 0.0
  sizes = (1024, 2048) if quick else (1024, 2048, 4096)
  product = tf.function(lambda a, b: tf.reduce_sum(
      tf.cast(tf.matmul(a, b), tf.float32)))
  for n in sizes:
    a = tf.cast(tf.random.normal([n, n]), dtype)
    b = tf.cast(tf.random.normal([n, n]), dtype)
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
    # Per timed run: (wall seconds, process CPU seconds, steps).
    self.runs = []

  def warm_up(self, steps):
    self.fit_steps(steps)

  def time(self, steps):
    start, cpu = time.perf_counter(), time.process_time()
    self.fit_steps(steps)
    wall = time.perf_counter() - start
    self.runs.append((wall, time.process_time() - cpu, steps))
    self.rates.append(steps * self.batch_size / wall)

  @property
  def best(self):
    return max(self.rates)

  @property
  def spread(self):
    """The range of the timed runs' images/s."""
    return f"{min(self.rates):,.0f}-{max(self.rates):,.0f}"


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


# --------------------------------------------------------- the layers alone


def math_layer_work(encoder, decoder):
  """(layer, input shape, needs the input's gradient) of every math layer.

  The encoder's first layer reads the data, whose gradient no step needs;
  every other layer passes a gradient back.
  """
  work = []
  for network in (encoder, decoder):
    for layer in network.layers:
      if isinstance(layer, MATH_LAYERS):
        shape = tuple(int(d) for d in layer.input.shape[1:])
        work.append((layer, shape, bool(work)))
  return work


def layer_gradients(layer, x, needs_input_gradient):
  """The layer's output and the gradients a training step takes.

  All are returned: a compiled function prunes what it does not return (a
  linear layer's output is not needed for its gradients).
  """
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = layer(x)
    total = tf.reduce_sum(tf.cast(y, tf.float32))
  sources = layer.trainable_variables + ([x] if needs_input_gradient else [])
  with precision.accurate_bias_gradients():  # as BaseVAE.train_step does
    return [y] + tape.gradient(total, sources)


def random_input(layer, shape, batch_size):
  values = np.random.default_rng(0).standard_normal((batch_size,) + shape)
  return tf.constant(values, dtype=layer.compute_dtype)


def layers_alone_runner(name, encoder, decoder, batch_size):
  """Every math layer's forward pass and gradients, one after another.

  On random inputs of each layer's shape and dtype: the convolutions and
  matmuls any training step of these networks must run, and nothing else
  (no loss, optimizer, input or callbacks).
  """
  work = [(layer, random_input(layer, shape, batch_size), needs)
          for layer, shape, needs in math_layer_work(encoder, decoder)]

  @tf.function
  def step():
    results = []
    for layer, x, needs in work:
      # In sequence, as in a step: after the previous layer's results.
      with tf.control_dependencies(results[-1] if results else []):
        results.append(layer_gradients(layer, x, needs))
    return results

  def fit_steps(steps):
    for _ in range(steps):
      results = step()
    results[-1][-1].numpy()

  return Runner(name, fit_steps, batch_size)


def layer_breakdown(encoder, decoder, batch_size, repeats, peak):
  """Markdown rows: each math layer's time, share and FLOP/s, alone."""
  timings = []
  for layer, shape, needs in math_layer_work(encoder, decoder):
    x = random_input(layer, shape, batch_size)
    step = tf.function(lambda layer=layer, x=x, needs=needs:
                       layer_gradients(layer, x, needs))
    step()[-1].numpy()
    products = 3 if needs else 2  # forward, input and weight gradients
    flops = products * 2 * layer_multiply_adds(layer) * batch_size
    calls = max(5, int(2e10 / max(flops, 1) / (10 if repeats < 3 else 1)))
    best = float("inf")
    for _ in range(repeats):
      start = time.perf_counter()
      for _ in range(calls):
        results = step()
      results[-1].numpy()
      best = min(best, (time.perf_counter() - start) / calls)
    description = layer.__class__.__name__
    if isinstance(layer, keras.layers.Dense):
      description += f" {shape[-1]}->{layer.units}"
    else:
      description += (f" {shape[-1]}->{layer.filters}, "
                      f"{shape[0]}x{shape[1]} in")
    timings.append((f"{layer.path} ({description})", best, flops))
  total = sum(t for _, t, _ in timings)
  lines = []
  for name, seconds, flops in timings:
    lines.append(f"| {name} | {1e3 * seconds:.2f} | "
                 f"{100 * seconds / total:.1f}% | {flops / 1e9:.3f} | "
                 f"{flops / seconds / 1e9:.1f} | "
                 f"{100 * flops / seconds / peak:.1f}% |")
  flops = sum(f for _, _, f in timings)
  lines.append(f"| all layers | {1e3 * total:.2f} | 100% | "
               f"{flops / 1e9:.3f} | {flops / total / 1e9:.1f} | "
               f"{100 * flops / total / peak:.1f}% |")
  return lines


def run_interleaved(runners, steps, repeats):
  for runner in runners:
    runner.warm_up(steps)
  for _ in range(repeats):
    for runner in runners:
      runner.time(steps)


def round_to(steps, multiple):
  return max(multiple, (steps // multiple) * multiple)


# ---------------------------------------------------------------- workloads


def in_memory_data(images, name):
  return datasets.ImageData(name=name, train=images, validation=images[:8],
                            scale=1.0 / 255.0, support="unit",
                            num_train=int(images.shape[0]))


def tfvae_precisions():
  """float32, plus mixed bfloat16 where `auto` picks it on this machine."""
  native = precision.auto_policy()
  return ["none"] + ([native] if native != "none" else [])


def precision_name(policy):
  return "float32" if policy == "none" else policy


def peak_of(peaks, policy):
  """The matmul peak of the precision a policy computes in."""
  return peaks["float32" if policy == "none" else "bfloat16"]


def precision_label(policy):
  default = precision.resolve_policy(ExperimentConfig().runtime.mixed_precision)
  return precision_name(policy) + (" (default)" if policy == default else "")


def layers_alone_label(policy):
  return (f"the networks' layers alone, {precision_name(policy)}: forward + "
          "gradients in sequence, nothing else")


def with_policy(policy, build):
  """Calls build() with the global dtype policy set (put back after)."""
  with precision.global_policy(policy):
    return build()


def compare_28x28(steps, repeats):
  batch = 128
  images = keras_example.digits_28x28()
  config = ExperimentConfig.from_flat(batch_size=batch, model="reference",
                  reference_rec="bce").validate()
  spe = trainer.requested_steps_per_execution(config)
  baseline, per_epoch = baseline_runner(
      "Keras example (fit, float32 arrays, no XLA)",
      keras_example.encoder(images.shape[1:]),
      keras_example.decoder(images.shape[1:]),
      images.astype(np.float32) / 255.0, batch)
  steps = round_to(steps, per_epoch * spe // np.gcd(per_epoch, spe))
  data = in_memory_data(images, "digits28")
  ours, layers_alone = [], []
  for policy in tfvae_precisions():
    def build():
      keras.utils.set_random_seed(0)
      model = ReferenceVAE(
          keras_example.encoder(images.shape[1:]),
          keras_example.decoder(images.shape[1:], activation=None), rec="bce")
      model.build((None,) + images.shape[1:])
      model.compile(optimizer=keras.optimizers.Adam(config.training.learning_rate),
                    jit_compile=config.runtime.jit_compile, steps_per_execution=spe)
      return model
    model = with_policy(policy, build)
    ours.append(tfvae_runner(
        f"tfvae ReferenceVAE(bce), {precision_label(policy)}, "
        f"jit_compile={config.runtime.jit_compile}, steps_per_execution={spe}",
        model, data, config, spe))
    layers_alone.append(layers_alone_runner(
        layers_alone_label(policy), model.encoder, model.decoder, batch))

  # Where a difference comes from: the example's model on tfvae's pipeline.
  fed = baseline_model(keras_example.encoder(images.shape[1:]),
                       keras_example.decoder(images.shape[1:]))
  fed_ds = pipeline.train_dataset(data, batch, config.training.seed)
  fed_runner = Runner(
      "Keras example model fed by tfvae's uint8 tf.data pipeline",
      lambda n: fed.fit(fed_ds, epochs=1, steps_per_epoch=n, verbose=0), batch)
  run_interleaved([baseline] + ours + [fed_runner] + layers_alone, steps,
                  repeats)
  flops = train_flops_per_step(model.encoder, model.decoder, batch)
  return "28x28 upsampled digits, Keras-example networks, batch 128", \
      baseline, ours + [fed_runner] + layers_alone, flops, []


def dsprites_config(**overrides):
  return ExperimentConfig.from_flat({**dict(dataset="dsprites", architecture="conv",
                          likelihood="bernoulli", latent_dim=DSPRITES_LATENT,
                          batch_size=DSPRITES_BATCH), **overrides}).validate()


def compare_dsprites(steps, repeats, num_images, peaks):
  batch = DSPRITES_BATCH
  config = dsprites_config()
  data = datasets.load_data(config)
  spe = trainer.requested_steps_per_execution(config)
  # The baseline holds the first images of the same shuffled index set.
  subset = data.stream.indices[:num_images]
  images = data.stream.source.images(subset).astype(np.float32)
  shape = data.image_shape
  # The baseline's networks are plain Keras layers (float32).
  baseline_decoder = keras.Sequential([
      networks.build_decoder(shape, DSPRITES_LATENT, 1, "conv"),
      keras.layers.Activation("sigmoid")])
  baseline, per_epoch = baseline_runner(
      "Keras-example style (fit, float32 arrays, no XLA)",
      networks.build_encoder(shape, DSPRITES_LATENT, "conv"),
      baseline_decoder, images, batch)
  steps = round_to(steps, per_epoch * spe // np.gcd(per_epoch, spe))
  ours, layers_alone, breakdowns = [], [], []
  for policy in tfvae_precisions():
    def build():
      keras.utils.set_random_seed(0)
      return trainer.build_compiled_model(config, shape)
    model = with_policy(policy, build)
    ours.append(tfvae_runner(
        f"tfvae VAE(bernoulli, conv), streamed dSprites-like, "
        f"{precision_label(policy)}, jit_compile={config.runtime.jit_compile}, "
        f"steps_per_execution={spe}", model, data, config, spe))
    layers_alone.append(layers_alone_runner(
        layers_alone_label(policy), model.encoder, model.decoder, batch))
    breakdowns.append((precision_label(policy), layer_breakdown(
        model.encoder, model.decoder, batch, repeats, peak_of(peaks, policy))))
  run_interleaved([baseline] + ours + layers_alone, steps, repeats)
  flops = train_flops_per_step(model.encoder, model.decoder, batch)
  return f"64x64 dSprites-like, beta-VAE conv networks, batch {batch}", \
      baseline, ours + layers_alone, flops, breakdowns


def settings(steps_digits, steps_conv, repeats, quick=False):
  """tfvae's switches, each on the library's own model and pipeline."""
  rows = []
  workloads = (
      ("digits 8x8, mlp (the default run), batch 64",
       ExperimentConfig().validate(), steps_digits),
      (f"64x64 dSprites-like, conv, batch {DSPRITES_BATCH}",
       dsprites_config(), steps_conv),
  )
  auto = trainer.AUTO_STEPS_PER_EXECUTION
  warmup = dict(kl_schedule="linear", kl_warmup_steps=10_000)
  # (label, config overrides, log_every, callbacks, precision)
  variants = (
      ("jit off, 1 step/call, no callbacks", dict(steps_per_execution=1), 1,
       False, "none"),
      (REFERENCE_SETTING, dict(steps_per_execution=1), 1, True, "none"),
      ("jit off, 1 step/call, log every 100 steps",
       dict(steps_per_execution=1), 100, True, "none"),
      ("jit off, 10 steps/call, log every step", dict(steps_per_execution=10),
       1, True, "none"),
      (f"jit off, {auto} steps/call, log every step (auto)",
       dict(steps_per_execution=auto), 1, True, "none"),
      ("jit on, 1 step/call, log every step",
       dict(jit_compile=True, steps_per_execution=1), 1, True, "none"),
      (f"jit on, {auto} steps/call, log every step",
       dict(jit_compile=True, steps_per_execution=auto), 1, True, "none"),
      ("linear KL warm-up, 1 step/call",
       dict(steps_per_execution=1, **warmup), 1, True, "none"),
      (f"linear KL warm-up, {auto} steps/call (auto)",
       dict(steps_per_execution=auto, **warmup), 1, True, "none"),
  )
  native = precision.auto_policy()
  if native != "none":
    variants += ((f"{native}, {auto} steps/call",
                  dict(steps_per_execution=auto), 1, True, native),)
  if quick:
    keep = (REFERENCE_SETTING, "linear KL warm-up, 1 step/call",
            f"linear KL warm-up, {auto} steps/call (auto)")
    variants = tuple(v for v in variants if v[0] in keep)
  for title, base_config, steps in workloads:
    data = datasets.load_data(base_config)
    runners = []
    for label, overrides, log_every, with_callbacks, policy in variants:
      config = ExperimentConfig.from_flat({**base_config.to_flat(), **overrides}).validate()
      spe = config.runtime.steps_per_execution

      def build(config=config):
        keras.utils.set_random_seed(0)
        return trainer.build_compiled_model(config, data.image_shape)
      model = with_policy(policy, build)
      runners.append(tfvae_runner(label, model, data, config, spe, log_every,
                                  with_callbacks))
    runners.append(pipeline_runner(data, base_config))
    multiple = int(np.lcm.reduce([v[1]["steps_per_execution"]
                                  for v in variants]))
    run_interleaved(runners, round_to(steps, multiple), repeats)
    rows.append((title, runners))
  return rows


# ---------------------------------------------------------------- start-up


def _import_once(imports):
  """(seconds, peak resident MiB) of `imports` in a fresh interpreter."""
  code = ("import resource, time; start = time.perf_counter(); "
          f"{imports}; print(time.perf_counter() - start, "
          "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
  env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, check=True, env=env, cwd=ROOT).stdout
  seconds, kib = out.split()[-2:]
  return float(seconds), int(kib) / 1024.0


def startup(repeats):
  """Bare TF/Keras/TFP imports against tfvae's, alternating subprocesses."""
  imports = {"bare": BARE_IMPORTS, "tfvae": TFVAE_IMPORTS}
  runs = {"bare": [], "tfvae": []}
  for name in imports:  # untimed: fills the file cache
    _import_once(imports[name])
  for i in range(repeats):
    for name in (("bare", "tfvae") if i % 2 == 0 else ("tfvae", "bare")):
      runs[name].append(_import_once(imports[name]))
  return runs


def startup_lines(runs):
  bare_s = [r[0] for r in runs["bare"]]
  ours_s = [r[0] for r in runs["tfvae"]]
  extra = [b - a for a, b in zip(bare_s, ours_s)]
  bare_mb = statistics.median(r[1] for r in runs["bare"])
  ours_mb = statistics.median(r[1] for r in runs["tfvae"])
  return [
      "| imports (fresh interpreter) | seconds, median (min-max) | peak RSS "
      "MiB, median |", "|---|---:|---:|",
      f"| `{BARE_IMPORTS}` | {statistics.median(bare_s):.2f} "
      f"({min(bare_s):.2f}-{max(bare_s):.2f}) | {bare_mb:.0f} |",
      f"| the same + what scripts/train.py imports before training | "
      f"{statistics.median(ours_s):.2f} ({min(ours_s):.2f}-{max(ours_s):.2f})"
      f" | {ours_mb:.0f} |",
      f"| tfvae's overhead (paired differences) | "
      f"{statistics.median(extra):+.2f} ({min(extra):+.2f} to "
      f"{max(extra):+.2f}) | {ours_mb - bare_mb:+.0f} |",
      "", f"({len(bare_s)} alternating runs of each)"]


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
          f"Python {platform.python_version()}",
          "- TF_ENABLE_ONEDNN_OPTS: "
          f"{os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset (oneDNN on)')}"]


def comparison_table(results, peaks):
  lines = ["| workload | implementation | images/s (best) | all runs | "
           "ratio | FLOPs/step | GFLOP/s | % of float32 peak | "
           "% of bfloat16 peak |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
  for title, baseline, others, flops, _ in results:
    for runner in [baseline] + others:
      achieved = runner.best / runner.batch_size * flops
      ratio = runner.best / baseline.best
      lines.append(f"| {title} | {runner.name} | {runner.best:,.0f} | "
                   f"{runner.spread} | {ratio:.2f}x | {flops / 1e9:.3f} G | "
                   f"{achieved / 1e9:.1f} | "
                   f"{100 * achieved / peaks['float32']:.1f}% | "
                   f"{100 * achieved / peaks['bfloat16']:.1f}% |")
  return lines


def settings_table(rows):
  lines = ["| workload | tfvae setting | images/s (best) | all runs | "
           "vs. 1 step/call, log every step |", "|---|---|---:|---:|---:|"]
  for title, runners in rows:
    reference = next(r.best for r in runners if r.name == REFERENCE_SETTING)
    for runner in runners:
      lines.append(f"| {title} | {runner.name} | {runner.best:,.0f} | "
                   f"{runner.spread} | {runner.best / reference:.2f}x |")
  return lines


def measure_peaks(quick, peaks=None):
  """Best float32 and bfloat16 matmul FLOP/s (max with earlier `peaks`)."""
  peaks = dict(peaks or {"float32": 0.0, "bfloat16": 0.0})
  for name, dtype in (("float32", tf.float32), ("bfloat16", tf.bfloat16)):
    peaks[name] = max(peaks[name], matmul_peak_flops(quick, dtype))
  return peaks


def breakdown_lines(title, breakdowns):
  lines = []
  for label, layer_rows in breakdowns:
    lines += ["", f"### {title}: each layer alone, {label}", "",
              "| layer | ms per step | share | GFLOP per step | GFLOP/s | "
              "% of its precision's peak |", "|---|---:|---:|---:|---:|---:|"]
    lines += layer_rows
  return lines


def layers_only(repeats, quick):
  """--layers_only: the 64x64 networks' math alone, in each precision."""
  peaks = measure_peaks(quick)
  shape = (64, 64, 1)
  title = f"64x64 beta-VAE conv networks, batch {DSPRITES_BATCH}"
  lines = ["| precision | layers alone, images/s (best) | all runs | "
           "GFLOP/s |", "|---|---:|---:|---:|"]
  breakdowns = []
  for policy in tfvae_precisions():
    encoder, decoder = with_policy(policy, lambda: (
        networks.build_encoder(shape, DSPRITES_LATENT, "conv"),
        networks.build_decoder(shape, DSPRITES_LATENT, 1, "conv")))
    runner = layers_alone_runner(layers_alone_label(policy), encoder, decoder,
                                 DSPRITES_BATCH)
    run_interleaved([runner], 5 if quick else 20, repeats)
    flops = train_flops_per_step(encoder, decoder, DSPRITES_BATCH)
    lines.append(f"| {precision_label(policy)} | {runner.best:,.0f} | "
                 f"{runner.spread} | "
                 f"{runner.best / DSPRITES_BATCH * flops / 1e9:.1f} |")
    breakdowns.append((precision_label(policy), layer_breakdown(
        encoder, decoder, DSPRITES_BATCH, repeats, peak_of(peaks, policy))))
  return peaks, lines + breakdown_lines(title, breakdowns)


def cpu_flags():
  """The SIMD flags of this CPU that decide TensorFlow's CPU kernels."""
  wanted = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16",
            "amx_tile")
  try:
    with open("/proc/cpuinfo") as f:
      line = next((l for l in f if l.startswith("flags")), "")
  except OSError:
    return "unknown"
  have = set(line.split(":", 1)[-1].split())
  return ", ".join(f"{name} {'yes' if name in have else 'no'}"
                   for name in wanted)


def load_average():
  try:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())
  except OSError:
    return "unknown"


def one_off(name, fn, rows):
  """Times one call of fn (wall and process CPU seconds); returns its value."""
  start, cpu = time.perf_counter(), time.process_time()
  value = fn()
  rows.append((name, time.perf_counter() - start,
               time.process_time() - cpu))
  return value


def parts(repeats, batch, steps):
  """--parts: where the 64x64 CLI run's time goes.

  The CLI run (`--dataset=dsprites --architecture=conv`) taken apart: the
  pipeline alone, the step alone on one cached batch, the two together, and
  the same with the dSprites images held in memory as an npz run holds them,
  interleaved; CPU seconds per step are less sensitive to other jobs on the
  machine than wall seconds.
  """
  from tfvae.data import dsprites  # pylint: disable=import-outside-toplevel
  from tfvae.metrics import diagnostics  # pylint: disable=import-outside-toplevel
  once = []
  config = dsprites_config(batch_size=batch, max_examples=12_800)
  one_off("DSpritesLike() (rasterise the 720 sprites)", dsprites.DSpritesLike,
          once)
  data = one_off("load the data (index split, render the validation set)",
                 lambda: datasets.load_data(config), once)
  images = one_off("render all 12,160 training images at once (numpy)",
                   lambda: data.stream.source.images(data.stream.indices),
                   once)
  in_memory = datasets.ImageData(
      name="npz", train=images, validation=data.validation, scale=1.0,
      support="binary", num_train=len(images))
  shape = data.image_shape
  keras.utils.set_random_seed(0)
  model = trainer.build_compiled_model(config, shape)
  spe = math.gcd(steps, trainer.requested_steps_per_execution(config))
  cached = pipeline.train_dataset(data, batch, 0).take(1).cache().repeat()

  def step_runner(name, dataset):
    def fit_steps(n):
      model.steps_per_execution = spe
      model.fit(dataset, epochs=1, steps_per_epoch=n, verbose=0)
    return Runner(name, fit_steps, batch)

  def pipeline_alone(name, source):
    iterator = iter(pipeline.train_dataset(source, batch, 0))

    def fit_steps(n):
      for _ in range(n):
        next(iterator)
    return Runner(name, fit_steps, batch)

  baseline_decoder = keras.Sequential([
      networks.build_decoder(shape, DSPRITES_LATENT, 1, "conv"),
      keras.layers.Activation("sigmoid")])
  baseline, _ = baseline_runner(
      "Keras-example step (fit on float32 arrays)",
      networks.build_encoder(shape, DSPRITES_LATENT, "conv"),
      baseline_decoder, images[:batch * steps].astype(np.float32), batch)
  runners = [
      pipeline_alone("input pipeline alone, dSprites stream", data),
      pipeline_alone("input pipeline alone, in-memory uint8 (npz)",
                     in_memory),
      step_runner("tfvae step alone (one cached batch)", cached),
      step_runner("tfvae step + dSprites stream (the CLI run)",
                  pipeline.train_dataset(data, batch, 0)),
      step_runner("tfvae step + in-memory uint8 (an npz run)",
                  pipeline.train_dataset(in_memory, batch, 0)),
      baseline,
      layers_alone_runner("the networks' layers alone", model.encoder,
                          model.decoder, batch),
  ]
  load_before = load_average()
  run_interleaved(runners, steps, repeats)
  # What the dSprites stream was made with before: TensorFlow's generator
  # dataset sets M_TRIM_THRESHOLD (mallopt) for the whole process, for good.
  for _ in tf.data.Dataset.from_generator(
      lambda: iter([0]), output_signature=tf.TensorSpec((), tf.int32)):
    pass
  after = [
      step_runner("tfvae step alone, after a from_generator dataset ran "
                  "(the previous stream)", cached),
      step_runner("tfvae step + dSprites stream, after a from_generator "
                  "dataset ran (the previous CLI run)",
                  pipeline.train_dataset(data, batch, 0)),
      baseline_runner(
          "Keras-example step, after a from_generator dataset ran",
          networks.build_encoder(shape, DSPRITES_LATENT, "conv"),
          keras.Sequential([
              networks.build_decoder(shape, DSPRITES_LATENT, 1, "conv"),
              keras.layers.Activation("sigmoid")]),
          images[:batch * steps].astype(np.float32), batch)[0]]
  run_interleaved(after, steps, repeats)
  runners += after
  val_ds = pipeline.eval_dataset(data.validation, data.scale,
                                 trainer.EVAL_BATCH_SIZE)
  for _ in range(2):  # The first call traces.
    one_off(f"final evaluation ({len(data.validation)} validation images)",
            lambda: diagnostics.evaluate(model, val_ds, seed=[0, 1]), once)
  lines = machine_lines() + [
      f"- CPU flags: {cpu_flags()}",
      f"- load average (1, 5, 15 min): {load_before} before the timed runs, "
      f"{load_average()} after",
      f"- batch {batch}, {steps} steps per timed run, {repeats} interleaved "
      f"runs, {spe} steps per call", "",
      "| part | ms per step, wall (best) | wall, all runs | CPU ms per step "
      "(best) | CPU, all runs |", "|---|---:|---:|---:|---:|"]
  for runner in runners:
    wall = [1e3 * w / n for w, _, n in runner.runs]
    cpu = [1e3 * c / n for _, c, n in runner.runs]
    lines.append(f"| {runner.name} | {min(wall):.1f} | {min(wall):.1f}-"
                 f"{max(wall):.1f} | {min(cpu):.1f} | {min(cpu):.1f}-"
                 f"{max(cpu):.1f} |")
  lines += ["", "| one-off | wall s | CPU s |", "|---|---:|---:|"]
  lines += [f"| {name} | {wall:.2f} | {cpu:.2f} |" for name, wall, cpu in once]
  return lines


def main(argv):
  del argv
  quick = FLAGS.quick
  # --quick runs once per variant unless --repeats is given.
  repeats = FLAGS.repeats if FLAGS["repeats"].present or not quick else 1
  started = time.time()
  if FLAGS.parts:
    repeats = repeats if FLAGS["repeats"].present else 3
    print("\n".join(parts(repeats, FLAGS.parts_batch, FLAGS.parts_steps)))
    return
  if FLAGS.layers_only:
    peaks, lines = layers_only(repeats, quick)
    print("\n".join(machine_lines() + [
        f"- dense matmul peaks: float32 {peaks['float32'] / 1e9:.1f} "
        f"GFLOP/s, bfloat16 {peaks['bfloat16'] / 1e9:.1f} GFLOP/s", ""]
                    + lines))
    return
  startup_runs = startup(2 if quick else FLAGS.startup_repeats)
  peaks = measure_peaks(quick)
  results = [compare_28x28(56 if quick else 280, repeats),
             compare_dsprites(10 if quick else 60, repeats,
                              num_images=640 if quick else 3840,
                              peaks=peaks)]
  rows = []
  if FLAGS.settings:
    rows = settings(200 if quick else 2000, 10 if quick else 100, repeats,
                    quick)
  # Measured again at the end: a burst of throttling can hide the peak.
  peaks = measure_peaks(quick, peaks)
  lines = ["## Throughput (benchmarks/throughput.py"
           f"{' --quick' if quick else ''})", ""] + machine_lines() + [
               f"- dense matmul peaks: float32 {peaks['float32'] / 1e9:.1f} "
               f"GFLOP/s, bfloat16 {peaks['bfloat16'] / 1e9:.1f} GFLOP/s",
               f"- `--mixed_precision=auto` here: {precision.auto_policy()}",
               ""]
  lines += comparison_table(results, peaks)
  for title, _, _, _, breakdowns in results:
    lines += breakdown_lines(title, breakdowns)
  if rows:
    lines += ["", "### tfvae speed switches", ""] + settings_table(rows)
  lines += ["", "### Start-up", ""] + startup_lines(startup_runs)
  lines += ["", f"(measured in {time.time() - started:.0f} s; best of "
            f"{repeats} interleaved run(s) per row)"]
  text = "\n".join(lines)
  print(text)
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      f.write(text + "\n")


if __name__ == "__main__":
  app.run(main)
