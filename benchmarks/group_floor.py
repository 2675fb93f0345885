"""What K small models' training steps cost at the least, in plain TensorFlow.

    python benchmarks/group_floor.py                 # K = 1 and 8, 3 repeats
    python benchmarks/group_floor.py --points=1,4,8 --repeats=5

The floor under a grouped sweep (`tfvae.training.group`): K copies of the
`rd_digits_bernoulli` preset's networks (mlp 64-256-256-2x8 encoder, 8-256-
256-64 decoder, batch 64), trained with the bare minimum (summed Bernoulli
cross-entropy + analytic KL, Keras' Adam, 50 steps per compiled call, no
metrics or logging), written three ways:

- separate: K independent models in one graph (what a group does);
- stacked: the K models' weights stacked, each layer one batched matmul
  (`[K, B, in] x [K, in, out]`);
- separate with XLA (`jit_compile=True`).

Prints milliseconds per step (median and range over interleaved repeats), the
ratio to one separate model's step, and the matmul FLOP rate (3 x forward
multiply-adds x 2 per example). No tfvae import: this is the cost of the
math and TensorFlow's per-op work alone.
"""

import os
import time

from absl import app
from absl import flags
import keras
import numpy as np
import tensorflow as tf

FLAGS = flags.FLAGS
flags.DEFINE_list("points", ["1", "8"], "Models per group (K).")
flags.DEFINE_integer("repeats", 3, "Interleaved timings of each variant.")
flags.DEFINE_integer("calls", 6, "Compiled calls of 50 steps per timing.")

BATCH, FEATURES, HIDDEN, LATENT, STEPS_PER_CALL = 64, 64, 256, 8, 50
LAYERS = ((FEATURES, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, 2 * LATENT),
          (LATENT, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, FEATURES))
# The layers without a ReLU: the encoder's and the decoder's last.
LINEAR = (2, 5)


def step_flops():
  macs = sum(a * b for a, b in LAYERS)
  return 3 * 2 * macs * BATCH


def _weights(rng, lead=()):
  return [(tf.Variable(rng.normal(0.0, (2.0 / (a + b)) ** 0.5,
                                  lead + (a, b)).astype("float32")),
           tf.Variable(np.zeros(lead + (1,) * bool(lead) + (b,), "float32")))
          for a, b in LAYERS]


def _loss(params, x, noise):
  h = x
  for i, (w, b) in enumerate(params[:3]):
    h = tf.matmul(h, w) + b
    h = h if i in LINEAR else tf.nn.relu(h)
  mean, log_variance = h[..., :LATENT], h[..., LATENT:]
  h = mean + tf.exp(0.5 * log_variance) * noise
  for i, (w, b) in enumerate(params[3:], start=3):
    h = tf.matmul(h, w) + b
    h = h if i in LINEAR else tf.nn.relu(h)
  labels = tf.broadcast_to(x, tf.shape(h))
  distortion = tf.reduce_sum(
      tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=h), -1)
  rate = 0.5 * tf.reduce_sum(tf.exp(log_variance) + tf.square(mean) - 1.0 -
                             log_variance, -1)
  return tf.reduce_sum(tf.reduce_mean(distortion + rate, -1))


def _trainer(k, variant, x):
  rng = np.random.default_rng(0)
  if variant == "stacked":
    models = [_weights(rng, (k,))]
  else:
    models = [_weights(rng) for _ in range(k)]
  optimizers = [keras.optimizers.Adam(1e-3) for _ in models]

  def noise(seed):
    draws = [tf.random.stateless_normal((BATCH, LATENT), [j, seed])
             for j in range(k)]
    return tf.stack(draws) if variant == "stacked" else draws

  def step(seed):
    draws = noise(seed)
    for m, (params, optimizer) in enumerate(zip(models, optimizers)):
      variables = [v for pair in params for v in pair]
      with tf.GradientTape() as tape:
        if variant == "stacked":
          loss = _loss(params, x[None], draws)
        else:
          loss = _loss(params, x, draws[m])
      optimizer.apply_gradients(zip(tape.gradient(loss, variables),
                                    variables))

  @tf.function(jit_compile=variant == "separate, XLA")
  def call():
    for s in tf.range(STEPS_PER_CALL):
      step(s)
    return tf.constant(0)

  return call


def main(argv):
  del argv
  tf.get_logger().setLevel("ERROR")  # Six functions traced on purpose.
  rng = np.random.default_rng(1)
  x = tf.constant((rng.random((BATCH, FEATURES)) > 0.5).astype("float32"))
  variants = ("separate", "stacked", "separate, XLA")
  trainers = {(int(k), v): _trainer(int(k), v, x)
              for k in FLAGS.points for v in variants}
  for call in trainers.values():
    call()  # Trace (and compile) outside the timings.
  times = {key: [] for key in trainers}
  load = os.getloadavg()
  for _ in range(FLAGS.repeats):
    for key, call in trainers.items():
      start = time.perf_counter()
      for _ in range(FLAGS.calls):
        call()
      times[key].append((time.perf_counter() - start) * 1e3 /
                        (FLAGS.calls * STEPS_PER_CALL))
  base = np.median(times[(1, "separate")]) if (1, "separate") in times \
      else None
  print(f"load average before/after: {load[0]:.2f} / "
        f"{os.getloadavg()[0]:.2f}; {os.cpu_count()} logical cores")
  print("| K | variant | ms per step (median) | range | vs one model | "
        "GFLOP/s |")
  print("|---:|---|---:|---|---:|---:|")
  for (k, variant), values in times.items():
    median = float(np.median(values))
    ratio = f"{median / base:.2f}x" if base else "-"
    print(f"| {k} | {variant} | {median:.2f} | {min(values):.2f}-"
          f"{max(values):.2f} | {ratio} | "
          f"{k * step_flops() / median / 1e6:.1f} |")


if __name__ == "__main__":
  app.run(main)
