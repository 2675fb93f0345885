"""The training run: data -> model -> fit with callbacks -> final metrics (-> export).

A run is `total_steps` optimiser steps, organised by Keras as "epochs" of
`eval_every` steps; after each the validation set is evaluated exactly
(`tfvae.metrics.diagnostics`). The progress bar shows Keras' running means of
the tracked batch values since the last evaluation; TensorBoard shows every
step's batch values and every evaluation.
"""

import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from tfvae import __version__
from tfvae.data import datasets
from tfvae.data import pipeline
from tfvae.errors import DataError
from tfvae.export import layout
from tfvae.models.factory import build_model
from tfvae.training import callbacks as cb
from tfvae.training import checkpoints
from tfvae.training import distribute
from tfvae.training import rundir
from tfvae.training import tensorboard as tb

NUM_IMAGES_LOGGED = 8
# Train steps per tf.function call for --steps_per_execution=0 (auto); measured
# in benchmarks/throughput.py (docs/performance.md).
AUTO_STEPS_PER_EXECUTION = 50
EVAL_BATCH_SIZE = 256
FINAL_KEYS = ("neg_elbo", "bits_per_dim", "rate", "distortion", "loss",
              "active_units", "latent_dim", "kl_per_dim", "collapsed_dims",
              "mutual_information", "num_examples")


DEFAULT_STEPS = 2000


def total_steps(config, num_train):
  """--steps, or --epochs full passes (full batches only), or the default."""
  if config.steps is not None:
    return config.steps
  if config.epochs is not None:
    return config.epochs * max(1, num_train // config.batch_size)
  return DEFAULT_STEPS


def requested_steps_per_execution(config, strategy=None):
  """`--steps_per_execution`, with 0 (auto) resolved; see docs/performance.md.

  Auto runs AUTO_STEPS_PER_EXECUTION steps per call; KL schedules and
  controllers compute their weight inside each step from the step counter,
  so they stay exact at any value. Several replicas of a (multi-worker)
  MirroredStrategy always get one step per call: Keras 3's multi-step loop
  fails there ("You must feed a value for placeholder tensor", keras-team/keras
  issue 19246).
  """
  if strategy is not None and strategy.num_replicas_in_sync > 1 and \
      not isinstance(strategy, tf.distribute.TPUStrategy):
    return 1
  if config.steps_per_execution > 0:
    return config.steps_per_execution
  return AUTO_STEPS_PER_EXECUTION


def execution_steps(config, start_step, total, strategy=None):
  """Steps per execution of this run: the requested value reduced to a divisor
  of the evaluation and checkpoint intervals, the start step and the steps to
  run, so every evaluation, checkpoint and the last step end an execution
  (Keras would otherwise run past them: an epoch is whole executions)."""
  steps = requested_steps_per_execution(config, strategy)
  for interval in (config.eval_every, config.checkpoint_every, start_step,
                   total - start_step):
    steps = math.gcd(steps, interval)
  return max(steps, 1)


def build_compiled_model(config, event_shape, strategy=None, total_steps=None,
                         data_in_unit_interval=True):
  strategy = strategy or tf.distribute.get_strategy()
  with strategy.scope():
    model = build_model(config, event_shape, total_steps,
                        data_in_unit_interval)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  jit_compile=config.jit_compile,
                  steps_per_execution=requested_steps_per_execution(
                      config, strategy))
  return model


def train(config, print_fn=print, data=None):
  """Runs training as configured; returns the final metrics dict.

  `data` is the already loaded `ImageData` (scripts load and check it before
  importing TensorFlow, see `tfvae.training.preflight`), or None to load it.

  Raises:
    TfvaeError (ConfigError, DataError, CheckpointError, NonFiniteLossError)
    with a one-line message for every problem caused by the input.
  """
  config.validate()
  started = time.time()
  keras.utils.set_random_seed(config.seed)
  policy = distribute.set_mixed_precision(config.mixed_precision)
  if data is None:
    data = datasets.load_data(config)
  warning = datasets.check_support(data, config.likelihood, config.model,
                                   config.reference_rec)
  if warning:
    print_fn(warning)
  if data.num_train < config.batch_size:
    raise DataError(f"--batch_size={config.batch_size} is larger than the "
                    f"{data.num_train} training examples")
  # Only now touch the logdir: every input error above leaves disk unchanged.
  if config.export_dir is not None:
    layout.check_export_base(config.export_dir)
  resuming = rundir.prepare(config)

  strategy = distribute.make_strategy(config)
  if config.steps_per_execution > 1 and \
      requested_steps_per_execution(config, strategy) == 1:
    print_fn(f"note: {strategy.num_replicas_in_sync} replicas run one step "
             "per call (--steps_per_execution is ignored, see "
             "docs/performance.md)")
  steps = total_steps(config, data.num_train)
  model = build_compiled_model(config, data.image_shape, strategy, steps,
                               data.in_unit_interval)
  with strategy.scope():
    checkpoints.build_optimizer(model)
  manager = checkpoints.make_manager(model, rundir.checkpoint_dir(config.logdir),
                                     config.keep_checkpoints)
  start_step = 0
  if resuming:
    restored = checkpoints.restore(manager)
    start_step = int(model.optimizer.iterations.numpy())
    if restored:
      print_fn(f"resuming {config.logdir} from {restored} (step {start_step})")
  # Shape and scale of the data, for scripts/export.py (after the restore: a
  # checkpoint that does not fit leaves the run dir as it was).
  spec = rundir.data_spec(data)
  if rundir.read_data_spec(config.logdir) != spec:
    rundir.write_json(os.path.join(config.logdir, rundir.DATA_FILE), spec)
  tb.truncate_events(config.logdir, start_step)

  writers = tb.make_writers(config.logdir)
  if start_step == 0:
    tb.write_text(writers["train"], "config", config.to_json())
  val_ds = pipeline.eval_dataset(data.validation, data.scale, EVAL_BATCH_SIZE,
                                  config.binarization, config.seed + 1)
  preview = (data.validation[:NUM_IMAGES_LOGGED].astype(np.float32) *
             data.scale)
  evaluation = cb.PeriodicEvaluation(val_ds, writers["validation"], preview,
                                     image_every=config.image_every,
                                     print_fn=print_fn, seed=config.seed)
  saver = cb.PeriodicCheckpoint(manager, config.checkpoint_every,
                                writers=writers.values())
  # The saver comes after the evaluation: see PeriodicCheckpoint.
  callbacks = [cb.NonFiniteGuard(manager), cb.StepLimit(steps),
               cb.BatchScalars(writers["train"], config.log_every), evaluation,
               saver]

  if start_step < steps:
    train_ds = pipeline.train_dataset(data, config.batch_size, config.seed,
                                      config.binarization)
    # The pipeline is deterministic given the seed: skip what was consumed.
    train_ds = train_ds.skip(start_step)
    # Keras' fit distributes it with the strategy's own API
    # (experimental_distribute_dataset) when a strategy is active.
    remaining = steps - start_step
    chunk = config.eval_every
    # At most the compiled value (the model's per-step log has that many rows).
    model.steps_per_execution = execution_steps(config, start_step, steps,
                                                strategy)
    model.fit(train_ds, epochs=math.ceil(remaining / chunk),
              steps_per_epoch=chunk, callbacks=callbacks,
              verbose=config.verbose)
    saver.save_final()
  else:
    print_fn(f"{config.logdir} already reached step {steps}; evaluating only")
    # Its events are logged already: a second point at this step would
    # duplicate it in TensorBoard.
    evaluation.writer = tf.summary.create_noop_writer()

  evaluation.set_model(model)
  result = evaluation.last_result
  if evaluation.last_step != int(model.optimizer.iterations.numpy()):
    result = evaluation.evaluate()
  final = {k: result[k] for k in FINAL_KEYS}
  final.update(final_weighting(model, config))
  final.update({
      "step": int(model.optimizer.iterations.numpy()),
      "dataset": config.dataset,
      # The precision actually used ("auto" resolved): none = float32.
      "mixed_precision": policy,
      "tfvae_version": __version__,
      "train_seconds": round(time.time() - started, 1),
  })
  rundir.write_json(os.path.join(config.logdir, rundir.FINAL_METRICS_FILE),
                    final)
  for writer in writers.values():
    writer.close()
  if config.export_dir:
    from tfvae.export import saved_model  # pylint: disable=import-outside-toplevel
    final["export_path"] = saved_model.export(
        model, config, config.export_dir,
        uint8_scale=spec["uint8_scale"])
  return final


def final_weighting(model, config):
  """The weighting at the end of training, in every convention."""
  values = {name: float(model.last_batch[name].numpy())
            for name in ("kl_weight", "beta_eff", "beta_norm")}
  if "sigma" in model.last_batch:
    values["sigma"] = float(model.last_batch["sigma"].numpy())
  shared_sigma = (config.model == "vae" and config.likelihood == "gaussian" and
                  config.sigma not in ("learned_channel", "learned_pixel"))
  if shared_sigma or (config.model == "reference" and
                      config.reference_rec == "l2"):
    # The weight on summed KL per unit of summed squared error, the question's
    # L2/sum units: a Gaussian NLL is SSE / (2 sigma^2) + const.
    sigma_sq = values["sigma"]**2 if "sigma" in values else 0.5
    values["beta_sse_units"] = values["beta_eff"] * 2.0 * sigma_sq
  values["rec_reduction"] = config.rec_reduction
  values["kl_reduction"] = config.kl_reduction
  return values


def summary_table(final):
  """Human-readable summary printed at the end of `train.py`."""
  rows = [
      ("-ELBO (nats)", f"{final['neg_elbo']:.4f}"),
      ("-ELBO (bits/dim)", f"{final['bits_per_dim']:.5f}"),
      ("rate R (nats)", f"{final['rate']:.4f}"),
      ("distortion D (nats)", f"{final['distortion']:.4f}"),
      ("KL weight as written", f"{final['kl_weight']:.6g}"),
      ("effective beta (ELBO units)", f"{final['beta_eff']:.6g}"),
      ("beta_norm", f"{final['beta_norm']:.6g}"),
  ]
  if "beta_sse_units" in final:
    rows.append(("beta in the question's L2/sum units",
                 f"{final['beta_sse_units']:.6g}"))
  rows += [
      ("active units", f"{final['active_units']}/{final['latent_dim']}"),
      ("mutual information (nats)", f"{final['mutual_information']:.4f}"),
  ]
  if "sigma" in final:
    rows.append(("decoder sigma", f"{final['sigma']:.5f}"))
  if "mixed_precision" in final:
    policy = final["mixed_precision"]
    rows.append(("precision", "float32" if policy == "none" else policy))
  if final.get("collapsed_dims"):
    rows.append(("collapsed dims", ",".join(map(str, final["collapsed_dims"]))))
  width = max(len(r[0]) for r in rows)
  return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)
