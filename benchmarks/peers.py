#!/usr/bin/env python3
"""tfvae beside its peers: pythae and plain PyTorch on the same work.

    pip install -r requirements-peers.txt        # into a separate environment
    python benchmarks/peers.py --peer_python=PEERS_ENV/bin/python           # 3 repeats
    python benchmarks/peers.py --peer_python=PEERS_ENV/bin/python --quick   # smoke run

The peers' requirements (torch, pythae) are not tfvae's: install them into
their own virtual environment (`python3 -m venv PEERS_ENV && PEERS_ENV/bin/pip
install -r requirements-peers.txt`) and name its interpreter with
`--peer_python` (default: this interpreter, if it can import torch). The
tfvae rows and the Keras-style row run under this interpreter.

Workloads (the rows of the issue "speed where users train"):

- `digits`: tfvae's mlp (Dense 256-256, latent 8; the decoder mirrors it) on
  scikit-learn's 8x8 digits, batch 64, 2,000 steps;
- `keras28`: the official Keras VAE example's networks (conv 32-64 kernel 3
  stride 2, dense 16, latent 2; `keras_example.py`) on the digits upsampled to
  28x28, batch 128, 120 steps;
- `dsprites64`: the beta-VAE conv networks of `tfvae.networks` (32-32-64-64,
  kernel 4, dense 256, latent 10) on dSprites-like images, batch 64,
  100 steps.

Systems, each (workload, system) run in its own subprocess:

- `tfvae_cli`: `scripts/train.py --dataset=npz:...` with the workload's
  flags and tfvae's defaults otherwise (evaluation and checkpoint only at the
  end); the step times are the wall times of the per-step TensorBoard
  events, written once per call of `steps_per_execution` steps;
- `tfvae_library`: `tfvae.VAE(encoder, decoder,
  likelihood=tfvae.likelihoods.Bernoulli())`, `compile(optimizer="adam")`
  (Keras' defaults: one step per call, no XLA), `fit` on float32 arrays;
- `keras_style`: the Keras VAE example's model and `train_step` as
  `throughput.py` defines it (sigmoid decoder, clipped BCE summed over the
  pixels plus the KL, `fit` on float32 arrays, no XLA);
- `pythae`: pythae's `VAE` (`reconstruction_loss="bce"`) with the same
  layers as custom `BaseEncoder` / `BaseDecoder`, trained by its
  `TrainingPipeline` (`BaseTrainer`, its DataLoader, Adam);
- `pytorch`: a plain loop (random permutation, tensor slicing,
  `torch.optim.Adam`, `binary_cross_entropy_with_logits` summed over the
  pixels plus the KL, divided by the batch) with torch's default threads.

All train the same layers (the parameter counts are printed), the same uint8
images (written once to an npz that every subprocess reads; the CLI reads
all of them and holds out the same images as the others by its own
`--validation_fraction` split), the same batch, number of steps, Adam with
learning rate 1e-3, and the same loss: the Bernoulli negative log-likelihood
summed over the pixels plus the KL summed over the latents, averaged over the
batch (-ELBO per example). The peers use their own default initialisers.

Measured per run: images/s over the timed steps (the first `warm-up` steps,
which trace and compile, are excluded; timestamps at step ends), and the
-ELBO per example (nats) of the trained model on the held-out images, every
system with the same posterior noise (one fixed draw per image, stored in the
npz) and one formula (numpy): the "equal -ELBO after the same steps" check.

Repeats are interleaved (the system order rotates each repeat), so a busy
machine slows every system alike; ratios pair the runs of the same repeat.
"""

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS = os.path.join(ROOT, "benchmarks")
REQUIREMENTS = "requirements-peers.txt"
LEARNING_RATE = 1e-3
SEED = 0
TFVAE_SYSTEMS = ("tfvae_cli", "tfvae_library")
PEER_SYSTEMS = ("pythae", "pytorch")
SYSTEMS = TFVAE_SYSTEMS + ("keras_style",) + PEER_SYSTEMS
SYSTEM_LABELS = {
    "tfvae_cli": "tfvae CLI (scripts/train.py)",
    "tfvae_library": "tfvae library (VAE, compile with Keras defaults, fit)",
    "keras_style": "Keras VAE example style (throughput.py)",
    "pythae": "pythae (VAE + TrainingPipeline)",
    "pytorch": "plain PyTorch loop",
}
CPU_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16",
             "amx_tile")
RESULT_KEY = "peers_result"


class Workload:
  """One row of the issue: networks, data, batch and steps."""

  def __init__(self, name, title, side, latent_dim, batch, network, train,
               heldout, steps, warmup, quick, systems):
    self.name = name
    self.title = title
    self.side = side
    self.latent_dim = latent_dim
    self.batch = batch
    self.network = network  # mlp | keras_example | conv
    self.train = train  # training images: a whole number of batches
    self.heldout = heldout
    self.steps = steps
    self.warmup = warmup
    self.quick = quick  # (train, steps, warmup) of --quick
    self.systems = systems

  def sizes(self, quick):
    """(training images, steps, warm-up steps) of a full or quick run."""
    return self.quick if quick else (self.train, self.steps, self.warmup)


# Steps are whole epochs (the Keras-style fit and pythae count epochs), the
# warm-up ends a call of the CLI's steps_per_execution (50, reduced by the
# CLI to a divisor of the steps).
WORKLOADS = {
    "digits": Workload(
        "digits", "digits mlp 8x8, latent 8", 8, 8, 64, "mlp", 1600, 197,
        2000, 200, (1600, 100, 50), SYSTEMS),
    "keras28": Workload(
        "keras28", "Keras-example nets 28x28 (digits upsampled), latent 2",
        28, 2, 128, "keras_example", 1536, 261, 120, 24, (1536, 24, 12),
        SYSTEMS[1:]),
    "dsprites64": Workload(
        "dsprites64", "beta-VAE conv 64x64, latent 10, dSprites-like", 64,
        10, 64, "conv", 3200, 256, 100, 50, (640, 20, 10),
        ("tfvae_cli", "keras_style", "pythae", "pytorch")),
}


# ------------------------------------------------------------ shared maths


def bernoulli_log_probs_from_logits(logits):
  """(log p, log(1 - p)) of Bernoulli logits, stable."""
  logits = np.asarray(logits, np.float64)
  return -np.logaddexp(0.0, -logits), -np.logaddexp(0.0, logits)


def bernoulli_log_probs_from_probs(probs, epsilon=1e-7):
  """(log p, log(1 - p)) of probabilities clipped as Keras' BCE clips them."""
  probs = np.clip(np.asarray(probs, np.float64), epsilon, 1.0 - epsilon)
  return np.log(probs), np.log1p(-probs)


def neg_elbo(x, mean, log_var, log_p, log_1mp):
  """Mean over examples of the one-sample -ELBO (nats).

  -ELBO = -sum_k [x_k log p_k + (1 - x_k) log(1 - p_k)]
          + 1/2 sum_j (mu_j^2 + sigma_j^2 - log sigma_j^2 - 1),
  p = decoder(mu + sigma * eps): the Bernoulli (cross-entropy) negative
  log-likelihood of x in [0, 1] and the Gaussian posterior's KL to N(0, I)
  (Kingma & Welling 2014, eq. 10).

  Args:
    x: [N, K] targets in [0, 1].
    mean, log_var: [N, J] posterior parameters.
    log_p, log_1mp: [N, K] log p and log(1 - p) of the decoder.
  """
  x = np.asarray(x, np.float64).reshape(len(x), -1)
  log_p = np.asarray(log_p).reshape(len(x), -1)
  log_1mp = np.asarray(log_1mp).reshape(len(x), -1)
  mean = np.asarray(mean, np.float64)
  log_var = np.asarray(log_var, np.float64)
  rec = -np.sum(x * log_p + (1.0 - x) * log_1mp, axis=1)
  kl = 0.5 * np.sum(mean**2 + np.exp(log_var) - log_var - 1.0, axis=1)
  return float(np.mean(rec + kl))


def timed_rate(times, warmup, batch):
  """Images/s between the end of step `warmup` and the last step.

  `times[s]` is the time step s ended (steps counted from 1; key or index).
  A dict may hold only some steps (the last of each call when a call runs
  several): the timing then starts at the first recorded step >= `warmup`.
  """
  steps = max(times) if isinstance(times, dict) else len(times)
  get = times.__getitem__ if isinstance(times, dict) else \
      (lambda s: times[s - 1])
  if warmup < 1 or warmup >= steps:
    raise ValueError(f"warm-up {warmup} must be in [1, {steps})")
  if isinstance(times, dict):
    warmup = min(s for s in times if s >= warmup)
    if warmup == steps:
      raise ValueError(f"no call ends between the warm-up and step {steps}")
  return (steps - warmup) * batch / (get(steps) - get(warmup))


# ------------------------------------------------------------------ machine


def cpu_model():
  try:
    with open("/proc/cpuinfo") as f:
      return next((line.split(":", 1)[1].strip() for line in f
                   if line.startswith("model name")), "unknown")
  except OSError:
    return "unknown"


def cpu_flags():
  try:
    with open("/proc/cpuinfo") as f:
      line = next((l for l in f if l.startswith("flags")), "")
  except OSError:
    return "unknown"
  have = set(line.split(":", 1)[-1].split())
  return ", ".join(f"{name} {'yes' if name in have else 'no'}"
                   for name in CPU_FLAGS)


def uptime():
  try:
    return subprocess.run(["uptime"], capture_output=True, text=True,
                          check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return "load average: " + " ".join(f"{v:.2f}" for v in os.getloadavg())


# ----------------------------------------------------------- data (tfvae env)


def prepare_data(directory, names, quick):
  """Writes <directory>/<workload>.npz: the images and the held-out split.

  Keys: `x` (all images, uint8 [N, H, W, 1], 0..255: what the CLI reads),
  `train` and `heldout` (the CLI's own split of `x` by
  --validation_fraction=`fraction` and seed 0), `eps` (the held-out -ELBO's
  posterior noise, [heldout, latent_dim]) and `fraction`.
  """
  sys.path.insert(0, ROOT)
  sys.path.insert(0, BENCHMARKS)
  from tfvae.data import datasets  # pylint: disable=import-outside-toplevel
  for name in names:
    workload = WORKLOADS[name]
    train_size, _, _ = workload.sizes(quick)
    total = train_size + workload.heldout
    if workload.network == "conv":
      from tfvae.data import dsprites  # pylint: disable=import-outside-toplevel
      source = dsprites.DSpritesLike()
      indices = np.sort(np.random.RandomState(SEED).choice(
          source.num_images, total, replace=False))
      x = source.images(indices).astype(np.uint8) * 255
    else:
      if workload.network == "keras_example":
        import keras_example  # pylint: disable=import-outside-toplevel
        x = keras_example.digits_28x28()
      else:
        levels, scale = datasets.load_digits()
        x = np.round(levels.astype(np.float64) * scale * 255.0).astype(
            np.uint8)
      x = x[:total]
    x = x.reshape((total, workload.side, workload.side, 1))
    fraction = workload.heldout / total
    train, heldout = datasets.split_validation(x, fraction, SEED)
    if (len(train), len(heldout)) != (train_size, workload.heldout):
      raise RuntimeError(f"{name}: split {len(train)}/{len(heldout)}")
    eps = np.random.RandomState(SEED + 1).standard_normal(
        (workload.heldout, workload.latent_dim)).astype(np.float32)
    np.savez(os.path.join(directory, f"{name}.npz"), x=x, train=train,
             heldout=heldout, eps=eps, fraction=np.float64(fraction))


# ------------------------------------------------------ the tfvae-side rows


def keras_step_times():
  """A Keras callback that records when every training call ends, by the
  optimiser's step count at its end ({step: time}; a call may run several
  steps)."""
  import keras  # pylint: disable=import-outside-toplevel

  class StepTimes(keras.callbacks.Callback):

    def __init__(self):
      super().__init__()
      self.times = {}

    def on_train_batch_end(self, batch, logs=None):
      step = int(self.model.optimizer.iterations.numpy())
      self.times[step] = time.perf_counter()

  return StepTimes()


def tf_threads():
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  intra = tf.config.threading.get_intra_op_parallelism_threads()
  inter = tf.config.threading.get_inter_op_parallelism_threads()
  intra = intra or os.environ.get("TF_NUM_INTRAOP_THREADS", "default")
  inter = inter or os.environ.get("TF_NUM_INTEROP_THREADS", "default")
  return f"TF intra {intra}, inter {inter} ({os.cpu_count()} logical cores)"


def tf_versions():
  # pylint: disable=import-outside-toplevel
  import keras
  import tensorflow as tf
  import tensorflow_probability as tfp
  import tfvae
  return {"tensorflow": tf.__version__, "keras": keras.__version__,
          "tensorflow_probability": tfp.__version__,
          "tfvae": tfvae.__version__, "numpy": np.__version__,
          "python": platform.python_version()}


def keras_networks(workload, logits):
  """The workload's Keras encoder and decoder (logits or sigmoid output)."""
  # pylint: disable=import-outside-toplevel
  import keras
  from tfvae import networks
  shape = (workload.side, workload.side, 1)
  if workload.network == "keras_example":
    import keras_example
    return (keras_example.encoder(shape),
            keras_example.decoder(shape,
                                  activation=None if logits else "sigmoid"))
  encoder = networks.build_encoder(shape, workload.latent_dim,
                                   workload.network)
  decoder = networks.build_decoder(shape, workload.latent_dim, 1,
                                   workload.network)
  if not logits:
    decoder = keras.Sequential([decoder, keras.layers.Activation("sigmoid")])
  return encoder, decoder


def run_keras_model(system, workload, data, steps, warmup):
  """tfvae_library and keras_style: `fit` on float32 arrays."""
  # pylint: disable=import-outside-toplevel
  import keras
  sys.path.insert(0, ROOT)
  sys.path.insert(0, BENCHMARKS)
  keras.utils.set_random_seed(SEED)
  train = data["train"].astype(np.float32) / 255.0
  heldout = data["heldout"].astype(np.float32) / 255.0
  if system == "tfvae_library":
    import tfvae
    encoder, decoder = keras_networks(workload, logits=True)
    model = tfvae.VAE(encoder, decoder,
                      likelihood=tfvae.likelihoods.Bernoulli())
    model.compile(optimizer="adam")
  else:
    import throughput
    encoder, decoder = keras_networks(workload, logits=False)
    model = throughput.baseline_model(encoder, decoder)
  epochs = steps * workload.batch // len(train)
  timer = keras_step_times()
  model.fit(train, batch_size=workload.batch, epochs=epochs, verbose=0,
            callbacks=[timer])
  if max(timer.times) != steps:
    raise RuntimeError(f"{system}: {max(timer.times)} steps, not {steps}")
  mean, log_var = (np.asarray(t) for t in model.encoder(heldout))
  z = (mean + np.exp(0.5 * log_var) * data["eps"]).astype(np.float32)
  output = np.asarray(model.decoder(z))
  log_probs = (bernoulli_log_probs_from_logits(output)
               if system == "tfvae_library"
               else bernoulli_log_probs_from_probs(output))
  return {
      "images_per_s": timed_rate(timer.times, warmup, workload.batch),
      "neg_elbo": neg_elbo(heldout, mean, log_var, *log_probs),
      "parameters": int(encoder.count_params() + decoder.count_params()),
      "threads": tf_threads(), "versions": tf_versions()}


def cli_flags(workload, data_path, fraction, steps, logdir):
  return [f"--dataset=npz:{data_path}", "--likelihood=bernoulli",
          f"--architecture={'conv' if workload.network == 'conv' else 'mlp'}",
          f"--latent_dim={workload.latent_dim}",
          f"--batch_size={workload.batch}",
          f"--learning_rate={LEARNING_RATE}", f"--seed={SEED}",
          f"--steps={steps}", f"--eval_every={steps}",
          f"--checkpoint_every={steps}", f"--validation_fraction={fraction!r}",
          f"--logdir={logdir}"]


def event_step_times(directory):
  """{step: wall time} of the first scalar event of every training step."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  times = {}
  for name in sorted(os.listdir(directory)):
    if not name.startswith("events."):
      continue
    for event in tf.compat.v1.train.summary_iterator(
        os.path.join(directory, name)):
      if event.step >= 1 and event.HasField("summary"):
        times.setdefault(int(event.step), event.wall_time)
  return times


def run_cli(workload, data, data_path, steps, warmup, scratch):
  """tfvae_cli: scripts/train.py in a subprocess, then its events and
  checkpoint."""
  sys.path.insert(0, ROOT)
  logdir = os.path.join(scratch, "run")
  fraction = float(data["fraction"])
  command = [sys.executable, os.path.join(ROOT, "scripts", "train.py")] + \
      cli_flags(workload, data_path, fraction, steps, logdir)
  env = dict(os.environ, PYTHONPATH=ROOT)
  done = subprocess.run(command, capture_output=True, text=True, env=env,
                        cwd=ROOT, check=False)
  if done.returncode != 0:
    raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
  # pylint: disable=import-outside-toplevel
  from tfvae.evaluation import loading
  from tfvae.models import execution
  per_call = math.gcd(execution.AUTO_STEPS_PER_EXECUTION, steps)
  if warmup % per_call:
    raise ValueError(f"warm-up {warmup} does not end one of the CLI's calls "
                     f"of {per_call} steps")
  times = event_step_times(os.path.join(logdir, "train"))
  if sorted(times) != list(range(1, steps + 1)):
    raise RuntimeError(f"the CLI logged {len(times)} steps, not {steps}")
  with open(os.path.join(logdir, "final_metrics.json")) as f:
    final = json.load(f)
  run = loading.load_run(logdir, data["x"].shape[1:])
  heldout = data["heldout"].astype(np.float32) / 255.0
  mean, log_var = (np.asarray(t) for t in run.model.encode(heldout))
  z = (mean + np.exp(0.5 * log_var) * data["eps"]).astype(np.float32)
  logits = np.asarray(run.model.decode_params(z))
  return {
      "images_per_s": timed_rate(times, warmup, workload.batch),
      "neg_elbo": neg_elbo(heldout, mean, log_var,
                           *bernoulli_log_probs_from_logits(logits)),
      "cli_validation_neg_elbo": final["neg_elbo"],
      "steps_per_call": per_call,
      "parameters": int(run.model.encoder.count_params() +
                        run.model.decoder.count_params()),
      "threads": tf_threads(), "versions": tf_versions()}


# ----------------------------------------------------------- the torch rows


def torch_networks(workload):
  """(encoder body, mean head, log-variance head, decoder to logits), the
  same layers as the Keras networks (NCHW; torch's default initialisers)."""
  # pylint: disable=import-outside-toplevel
  from torch import nn
  side, latent = workload.side, workload.latent_dim
  if workload.network == "mlp":
    body = nn.Sequential(nn.Flatten(), nn.Linear(side * side, 256), nn.ReLU(),
                         nn.Linear(256, 256), nn.ReLU())
    width = 256
    decoder = nn.Sequential(
        nn.Linear(latent, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
        nn.Linear(256, side * side), nn.Unflatten(1, (1, side, side)))
  elif workload.network == "keras_example":
    # Keras' "same" stride-2 padding pads after; torch pads both sides:
    # the same shapes and weights, the window shifted by one pixel.
    quarter = side // 4
    body = nn.Sequential(
        nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(quarter * quarter * 64, 16), nn.ReLU())
    width = 16
    decoder = nn.Sequential(
        nn.Linear(latent, quarter * quarter * 64), nn.ReLU(),
        nn.Unflatten(1, (64, quarter, quarter)),
        nn.ConvTranspose2d(64, 64, 3, stride=2, padding=1, output_padding=1),
        nn.ReLU(),
        nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1),
        nn.ReLU(), nn.ConvTranspose2d(32, 1, 3, stride=1, padding=1))
  else:  # the beta-VAE conv stack of tfvae.networks for 64x64
    filters = (32, 32, 64, 64)
    layers, channels = [], 1
    for f in filters:
      layers += [nn.Conv2d(channels, f, 4, stride=2, padding=1), nn.ReLU()]
      channels = f
    grid = side // 2**len(filters)
    body = nn.Sequential(*layers, nn.Flatten(),
                         nn.Linear(grid * grid * filters[-1], 256), nn.ReLU())
    width = 256
    layers = [nn.Linear(latent, 256), nn.ReLU(),
              nn.Linear(256, grid * grid * filters[-1]), nn.ReLU(),
              nn.Unflatten(1, (filters[-1], grid, grid))]
    channels = filters[-1]
    for f in reversed(filters[:-1]):
      layers += [nn.ConvTranspose2d(channels, f, 4, stride=2, padding=1),
                 nn.ReLU()]
      channels = f
    layers.append(nn.ConvTranspose2d(channels, 1, 4, stride=2, padding=1))
    decoder = nn.Sequential(*layers)
  return body, nn.Linear(width, latent), nn.Linear(width, latent), decoder


def torch_info():
  import torch  # pylint: disable=import-outside-toplevel
  versions = {"torch": torch.__version__, "numpy": np.__version__,
              "python": platform.python_version()}
  try:
    from importlib import metadata  # pylint: disable=import-outside-toplevel
    versions["pythae"] = metadata.version("pythae")
  except Exception:  # pylint: disable=broad-except
    pass
  return (f"torch intra {torch.get_num_threads()}, interop "
          f"{torch.get_num_interop_threads()}"), versions


def as_nchw(images):
  return np.ascontiguousarray(
      images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)


def run_pytorch(workload, data, steps, warmup):
  """A plain PyTorch training loop, as a user writes it."""
  # pylint: disable=import-outside-toplevel
  import torch
  import torch.nn.functional as F
  torch.manual_seed(SEED)
  body, mean_head, log_var_head, decoder = torch_networks(workload)
  modules = torch.nn.ModuleList([body, mean_head, log_var_head, decoder])
  optimizer = torch.optim.Adam(modules.parameters(), lr=LEARNING_RATE)
  x = torch.from_numpy(as_nchw(data["train"]))
  batch = workload.batch
  times = []
  modules.train()
  while len(times) < steps:
    order = torch.randperm(len(x))
    for start in range(0, len(x), batch):
      xb = x[order[start:start + batch]]
      h = body(xb)
      mean, log_var = mean_head(h), log_var_head(h)
      z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
      logits = decoder(z)
      rec = F.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
      kl = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp())
      loss = (rec + kl) / xb.shape[0]
      optimizer.zero_grad()
      loss.backward()
      optimizer.step()
      loss.item()  # what a loop that logs its loss does
      times.append(time.perf_counter())
      if len(times) == steps:
        break
  modules.eval()
  heldout = torch.from_numpy(as_nchw(data["heldout"]))
  with torch.no_grad():
    h = body(heldout)
    mean, log_var = mean_head(h), log_var_head(h)
    z = mean + torch.exp(0.5 * log_var) * torch.from_numpy(data["eps"])
    logits = decoder(z)
  threads, versions = torch_info()
  versions.pop("pythae", None)
  return {
      "images_per_s": timed_rate(times, warmup, batch),
      "neg_elbo": neg_elbo(heldout.numpy(), mean.numpy(), log_var.numpy(),
                           *bernoulli_log_probs_from_logits(logits.numpy())),
      "parameters": int(sum(p.numel() for p in modules.parameters())),
      "threads": threads, "versions": versions}


def run_pythae(workload, data, steps, warmup, scratch):
  """pythae's VAE with the same layers, trained by its TrainingPipeline."""
  # pylint: disable=import-outside-toplevel
  import torch
  from pythae.models import VAE, VAEConfig
  from pythae.models.base.base_utils import ModelOutput
  from pythae.models.nn import BaseDecoder, BaseEncoder
  from pythae.pipelines import TrainingPipeline
  from pythae.trainers import BaseTrainerConfig
  from pythae.trainers.training_callbacks import TrainingCallback

  torch.manual_seed(SEED)
  body, mean_head, log_var_head, decoder_net = torch_networks(workload)

  class Encoder(BaseEncoder):

    def __init__(self):
      BaseEncoder.__init__(self)
      self.body, self.mean, self.log_var = body, mean_head, log_var_head

    def forward(self, x):
      h = self.body(x)
      return ModelOutput(embedding=self.mean(h),
                         log_covariance=self.log_var(h))

  class Decoder(BaseDecoder):

    def __init__(self):
      BaseDecoder.__init__(self)
      self.net = decoder_net

    def forward(self, z):
      return ModelOutput(reconstruction=torch.sigmoid(self.net(z)))

  class StepTimes(TrainingCallback):

    def __init__(self):
      self.times = []

    def on_train_step_end(self, training_config, **kwargs):
      self.times.append(time.perf_counter())

  train = as_nchw(data["train"])
  model = VAE(model_config=VAEConfig(
      input_dim=(1, workload.side, workload.side),
      latent_dim=workload.latent_dim, reconstruction_loss="bce"),
              encoder=Encoder(), decoder=Decoder())
  config = BaseTrainerConfig(
      output_dir=os.path.join(scratch, "pythae"),
      per_device_train_batch_size=workload.batch,
      num_epochs=steps * workload.batch // len(train),
      learning_rate=LEARNING_RATE, optimizer_cls="Adam", seed=SEED)
  timer = StepTimes()
  TrainingPipeline(training_config=config, model=model)(
      train_data=train, callbacks=[timer])
  if len(timer.times) != steps:
    raise RuntimeError(f"pythae ran {len(timer.times)} steps, not {steps}")
  model.eval()
  heldout = torch.from_numpy(as_nchw(data["heldout"]))
  with torch.no_grad():
    posterior = model.encoder(heldout)
    mean, log_var = posterior.embedding, posterior.log_covariance
    z = mean + torch.exp(0.5 * log_var) * torch.from_numpy(data["eps"])
    probs = model.decoder(z).reconstruction
  threads, versions = torch_info()
  return {
      "images_per_s": timed_rate(timer.times, warmup, workload.batch),
      "neg_elbo": neg_elbo(heldout.numpy(), mean.numpy(), log_var.numpy(),
                           *bernoulli_log_probs_from_probs(probs.numpy())),
      "parameters": int(sum(p.numel() for p in model.parameters())),
      "threads": threads, "versions": versions}


def worker(system, workload_name, data_path, quick):
  """One (workload, system) run; prints its JSON line."""
  workload = WORKLOADS[workload_name]
  _, steps, warmup = workload.sizes(quick)
  with np.load(data_path) as archive:
    data = {key: archive[key] for key in archive.files}
  scratch = tempfile.mkdtemp(prefix="tfvae_peers_run_")
  try:
    if system == "tfvae_cli":
      result = run_cli(workload, data, data_path, steps, warmup, scratch)
    elif system in ("tfvae_library", "keras_style"):
      result = run_keras_model(system, workload, data, steps, warmup)
    elif system == "pytorch":
      result = run_pytorch(workload, data, steps, warmup)
    else:
      result = run_pythae(workload, data, steps, warmup, scratch)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  result.update({RESULT_KEY: True, "system": system,
                 "workload": workload_name, "steps": steps,
                 "warmup_steps": warmup, "batch": workload.batch})
  print(json.dumps(result), flush=True)


# ------------------------------------------------------------------ parent


def can_import(python, modules):
  """Whether `python` imports every module (a quick subprocess)."""
  code = "; ".join(f"import {m}" for m in modules)
  try:
    return subprocess.run([python, "-c", code], capture_output=True,
                          timeout=300, check=False).returncode == 0
  except OSError:
    return False


def peer_modules(systems):
  return (["torch"] if any(s in PEER_SYSTEMS for s in systems) else []) + \
      (["pythae"] if "pythae" in systems else [])


def check_args(args, parser):
  """Exits with one line naming the argument, before any run starts."""
  if args.repeats is not None and args.repeats < 1:
    parser.error(f"--repeats must be >= 1, got {args.repeats}")
  if args.threads is not None and args.threads < 1:
    parser.error(f"--threads must be >= 1, got {args.threads}")
  for flag, values, known in (("--workloads", args.workloads, WORKLOADS),
                              ("--systems", args.systems, SYSTEMS)):
    unknown = [v for v in values if v not in known]
    if unknown or not values:
      parser.error(f"{flag}: unknown {', '.join(unknown) or '(none given)'}; "
                   f"choose from {', '.join(known)}")
  modules = peer_modules(args.systems)
  if not modules:
    return None
  python = args.peer_python or sys.executable
  if args.peer_python and not os.path.exists(args.peer_python):
    parser.error(f"--peer_python: no such file: {args.peer_python}")
  if not can_import(python, modules):
    where = (f"--peer_python={args.peer_python}" if args.peer_python else
             f"this interpreter ({sys.executable}); give --peer_python")
    parser.error(f"{where} cannot import {' and '.join(modules)}: install "
                 f"them with `python3 -m venv PEERS_ENV && PEERS_ENV/bin/pip "
                 f"install -r {REQUIREMENTS}` and pass "
                 "--peer_python=PEERS_ENV/bin/python (or leave the peers out "
                 "with --systems)")
  return python


def thread_env(threads):
  """Environment variables giving TF (the CLI's subprocess included) and
  torch `threads` threads; none for the libraries' defaults."""
  if threads is None:
    return {}
  value = str(threads)
  return {"TF_NUM_INTRAOP_THREADS": value, "TF_NUM_INTEROP_THREADS": value,
          "OMP_NUM_THREADS": value}


def run_worker(python, system, workload, data_path, quick, threads=None):
  """(result dict, process wall seconds) of one worker subprocess."""
  command = [python, os.path.abspath(__file__), "--_worker", system,
             "--_workload", workload, "--_data", data_path] + \
      (["--quick"] if quick else [])
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **thread_env(threads))
  if python == sys.executable:
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
  start = time.perf_counter()
  done = subprocess.run(command, capture_output=True, text=True, env=env,
                        cwd=ROOT, check=False)
  wall = time.perf_counter() - start
  for line in reversed(done.stdout.splitlines()):
    if line.startswith("{"):
      try:
        result = json.loads(line)
      except ValueError:
        continue
      if result.get(RESULT_KEY):
        return result, wall
  raise RuntimeError(f"{workload}/{system} failed (exit {done.returncode}):\n"
                     f"{done.stderr[-4000:]}")


def spread(values, fmt):
  return (f"{fmt(statistics.median(values))} [{fmt(min(values))}, "
          f"{fmt(max(values))}]")


def workload_table(workload, systems, runs, quick):
  """Markdown lines for one workload; runs[system] = [(result, wall)...]."""
  _, steps, warmup = workload.sizes(quick)
  repeats = len(next(iter(runs.values())))
  ours = [s for s in systems if s in TFVAE_SYSTEMS]
  header = ["system", "images/s, median [min, max]"] + [
      f"{SYSTEM_LABELS[s].split(' (')[0]} / system, median [min, max]"
      for s in ours] + ["held-out -ELBO (nats), median [min, max]",
                        "parameters", "process s (median)", "threads"]
  lines = [f"### {workload.title}, batch {workload.batch}", "",
           f"{steps} steps ({warmup} warm-up steps excluded from images/s), "
           f"{repeats} interleaved repeat(s); held-out -ELBO on "
           f"{workload.heldout} images with fixed posterior noise.", "",
           "| " + " | ".join(header) + " |",
           "|---|" + "---:|" * (len(header) - 2) + "---|"]
  integer = lambda v: f"{v:,.0f}"  # pylint: disable=unnecessary-lambda-assignment
  for system in systems:
    results = [r for r, _ in runs[system]]
    rates = [r["images_per_s"] for r in results]
    cells = [SYSTEM_LABELS[system], spread(rates, integer)]
    for mine in ours:
      ratios = [a["images_per_s"] / b["images_per_s"]
                for (a, _), (b, _) in zip(runs[mine], runs[system])]
      cells.append("1" if mine == system else
                   spread(ratios, lambda v: f"{v:.2f}x"))
    cells += [spread([r["neg_elbo"] for r in results], lambda v: f"{v:.2f}"),
              f"{results[0]['parameters']:,}",
              f"{statistics.median(w for _, w in runs[system]):.0f}",
              results[0]["threads"]]
    lines.append("| " + " | ".join(cells) + " |")
  cli = runs.get("tfvae_cli")
  if cli:
    own = [r["cli_validation_neg_elbo"] for r, _ in cli]
    lines += ["", "(The CLI's own final validation -ELBO on the same "
              f"held-out images, its own noise: {spread(own, lambda v: f'{v:.2f}')}"
              f"; {cli[0][0]['steps_per_call']} steps per call.)"]
  return lines


def main(argv=None):
  parser = argparse.ArgumentParser(
      description=__doc__.split("\n\n", 1)[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true",
                      help="few steps, 1 repeat unless --repeats is given")
  parser.add_argument("--repeats", type=int, default=None,
                      help="interleaved runs per (workload, system); "
                      "default 3 (--quick: 1)")
  parser.add_argument("--workloads", default=",".join(WORKLOADS),
                      type=lambda s: [v for v in s.split(",") if v],
                      help=f"comma-separated, of: {', '.join(WORKLOADS)}")
  parser.add_argument("--systems", default=",".join(SYSTEMS),
                      type=lambda s: [v for v in s.split(",") if v],
                      help=f"comma-separated, of: {', '.join(SYSTEMS)} "
                      "(each workload runs those it has)")
  parser.add_argument("--peer_python", default=None,
                      help="interpreter with torch and pythae "
                      f"({REQUIREMENTS}); default: this one if it imports "
                      "torch")
  parser.add_argument("--threads", type=int, default=None,
                      help="threads of every system alike (TF's intra- and "
                      "inter-op pools, torch's); default: each library's own")
  parser.add_argument("--out", default=None,
                      help="also write the Markdown report here")
  parser.add_argument("--_worker", help=argparse.SUPPRESS)
  parser.add_argument("--_workload", help=argparse.SUPPRESS)
  parser.add_argument("--_data", help=argparse.SUPPRESS)
  parser.add_argument("--_prepare", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args._worker:  # pylint: disable=protected-access
    worker(args._worker, args._workload, args._data, args.quick)  # pylint: disable=protected-access
    return
  if args._prepare:  # pylint: disable=protected-access
    prepare_data(args._prepare, args.workloads, args.quick)  # pylint: disable=protected-access
    return
  peer_python = check_args(args, parser)
  repeats = args.repeats or (1 if args.quick else 3)
  started = time.time()
  load_before = uptime()
  scratch = tempfile.mkdtemp(prefix="tfvae_peers_")
  try:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    subprocess.run([sys.executable, os.path.abspath(__file__), "--_prepare",
                    scratch, "--workloads", ",".join(args.workloads)] +
                   (["--quick"] if args.quick else []), check=True, env=env,
                   cwd=ROOT, capture_output=True)
    sections, versions = [], {}
    for name in args.workloads:
      workload = WORKLOADS[name]
      systems = [s for s in workload.systems if s in args.systems]
      runs = {s: [] for s in systems}
      data_path = os.path.join(scratch, f"{name}.npz")
      for repeat in range(repeats):
        shift = repeat % len(systems)
        for system in systems[shift:] + systems[:shift]:
          python = peer_python if system in PEER_SYSTEMS else sys.executable
          result, wall = run_worker(python, system, name, data_path,
                                    args.quick, args.threads)
          runs[system].append((result, wall))
          for key, value in result["versions"].items():
            versions.setdefault(key, set()).add(value)
          print(f"[{time.time() - started:6.0f} s] {name} repeat "
                f"{repeat + 1}/{repeats} {system}: "
                f"{result['images_per_s']:,.0f} images/s, -ELBO "
                f"{result['neg_elbo']:.2f}, {wall:.0f} s", file=sys.stderr,
                flush=True)
      sections += [""] + workload_table(workload, systems, runs, args.quick)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  lines = [
      f"## Peers (benchmarks/peers.py{' --quick' if args.quick else ''}"
      f", {repeats} repeat(s))", "",
      f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores",
      f"- CPU flags: {cpu_flags()}",
      "- threads: " + (f"{args.threads} per system (--threads)"
                       if args.threads else "each library's default"),
      f"- load before: {load_before}",
      f"- load after: {uptime()}",
      "- versions: " + ", ".join(
          f"{k} {'/'.join(sorted(v))}" for k, v in sorted(versions.items())),
      f"- measured in {time.time() - started:.0f} s"] + sections
  text = "\n".join(lines)
  print(text)
  if args.out:
    with open(args.out, "w") as f:
      f.write(text + "\n")


if __name__ == "__main__":
  main()
