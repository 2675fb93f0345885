"""The training run: data -> model -> fit with callbacks -> final metrics (-> export).

A run is `total_steps` optimiser steps, organised by Keras as "epochs" of
`eval_every` steps; after each the validation set is evaluated exactly
(`tfvae.metrics.diagnostics`). The progress bar shows Keras' running means of
the tracked batch values since the last evaluation; TensorBoard shows every
step's batch values and every evaluation.
"""

import math
import time

import keras
import numpy as np
import tensorflow as tf

from tfvae import __version__
from tfvae import precision
from tfvae.callbacks import tensorboard as tb
from tfvae.callbacks import text as text_summaries
from tfvae.callbacks import training as cb
from tfvae.data import datasets
from tfvae.data import pipeline
from tfvae.export import layout
from tfvae.models import execution
from tfvae.models.factory import build_model
from tfvae.runs import checkpoints
from tfvae.runs import lock
from tfvae.runs import paths
from tfvae.runs import rundir
from tfvae.training import distribute
from tfvae.training import preflight

NUM_IMAGES_LOGGED = 8
# Train steps per tf.function call for --steps_per_execution=0 (auto); measured
# in benchmarks/throughput.py (docs/performance.md).
AUTO_STEPS_PER_EXECUTION = execution.AUTO_STEPS_PER_EXECUTION
EVAL_BATCH_SIZE = 256
FINAL_KEYS = ("neg_elbo", "bits_per_dim", "rate", "distortion", "loss",
              "active_units", "latent_dim", "kl_per_dim", "collapsed_dims",
              "mutual_information", "num_examples", "index_code_mi",
              "total_correlation", "dimwise_kl", "kl_parts_batch")

# The sentence VAE's (`text_summaries.TextEvaluation`).
TEXT_KEYS = ("perplexity", "iwae_perplexity", "tokens_per_sentence")

def total_steps(config, num_train):
  """--steps, or --epochs full passes (full batches only), or the default
  (`TrainingConfig.total_steps`)."""
  return config.training.total_steps(num_train)


def requested_steps_per_execution(config, strategy=None):
  """`--steps_per_execution`, with 0 (auto) resolved; see docs/performance.md.

  Auto runs AUTO_STEPS_PER_EXECUTION steps per call; KL schedules and
  controllers compute their weight inside each step from the step counter,
  so they stay exact at any value. Several replicas of a (multi-worker)
  MirroredStrategy always get one step per call: Keras 3's multi-step loop
  fails there ("You must feed a value for placeholder tensor", keras-team/keras
  issue 19246).
  """
  if execution.single_step_only(strategy):
    return 1
  if config.runtime.steps_per_execution > 0:
    return config.runtime.steps_per_execution
  return AUTO_STEPS_PER_EXECUTION


def execution_steps(config, start_step, total, strategy=None):
  """Steps per execution of this run: the requested value reduced to a divisor
  of the evaluation and checkpoint intervals, the start step and the steps to
  run, so every evaluation, checkpoint and the last step end an execution
  (Keras would otherwise run past them: an epoch is whole executions)."""
  steps = requested_steps_per_execution(config, strategy)
  for interval in (config.run.eval_every, config.run.checkpoint_every,
                   start_step, total - start_step):
    steps = math.gcd(steps, interval)
  return max(steps, 1)


def build_compiled_model(config, event_shape, strategy=None, total_steps=None,
                         data_in_unit_interval=True, dataset_size=None,
                         data=None):
  strategy = strategy or tf.distribute.get_strategy()
  with strategy.scope():
    model = build_model(config, event_shape, total_steps,
                        data_in_unit_interval, dataset_size, data=data)
    model.compile(optimizer=keras.optimizers.Adam(
        config.training.learning_rate),
                  jit_compile=config.runtime.jit_compile,
                  steps_per_execution=requested_steps_per_execution(
                      config, strategy))
  return model


@lock.releases_locks
@precision.restores_global_policy
def train(config, print_fn=print, data=None):
  """Runs training as configured; returns the final metrics dict.

  `data` is the already loaded `ImageData` (scripts load and check it before
  importing TensorFlow, see `tfvae.training.preflight`), or None to load it.

  Raises:
    TfvaeError (ConfigError, DataError, CheckpointError, NonFiniteLossError,
    StorageError, RunLockedError) with a one-line message for every problem
    caused by the input or the disk.
  """
  config.validate()
  started = time.time()
  # Before any TensorFlow op (the data checks run some): a multi-worker
  # strategy configures the runtime, which it can do only before it starts.
  distribute.make_strategy(config)
  keras.utils.set_random_seed(config.training.seed)
  policy = precision.set_policy(config.runtime.mixed_precision)
  if data is None:
    data = datasets.load_data(config)
  run = prepare_run(config, data, policy, print_fn, started)
  if run.start_step < run.steps:
    _fit(run.model, config, data, run.strategy, run.start_step, run.steps,
         run.callbacks)
  return finish_run(run)


class Run:
  """One run between `prepare_run` and `finish_run`: its model, callbacks
  and bookkeeping (what `train` and grouped training share)."""

  def __init__(self, **fields):
    self.__dict__.update(fields)


def prepare_run(config, data, policy, print_fn=print, started=None):
  """Everything of `train` before the training steps: checks, run directory,
  lock, model (restored when resuming), writers and callbacks.

  The caller has seeded (`keras.utils.set_random_seed`) and set the precision
  `policy`; the model's initial weights come from the seed state at the call.
  Returns a `Run`; `run.callbacks` are the fit's callbacks (empty when the
  run already reached its last step).
  """
  # Long: the steps of a run in the order that keeps the disk untouched until
  # every input check passed; each step is one call.
  started = time.time() if started is None else started
  warning = preflight.check_data(config, data)
  if warning:
    print_fn(warning)
  preflight.check_batch_size(config, data)
  logdir = config.run.logdir
  # Only now touch the logdir: every input error above leaves disk unchanged.
  if config.run.export_dir is not None:
    layout.check_export_base(config.run.export_dir)
  rundir.check(config)  # Before the lock creates the logdir.
  lock.acquire(logdir)  # One live run per logdir.
  resuming = rundir.prepare(config)

  strategy = distribute.make_strategy(config)
  if config.runtime.steps_per_execution > 1 and \
      requested_steps_per_execution(config, strategy) == 1:
    print_fn(f"note: {strategy.num_replicas_in_sync} replicas run one step "
             "per call (--steps_per_execution is ignored, see "
             "docs/performance.md)")
  steps = total_steps(config, data.num_train)
  model = build_compiled_model(config, data.event_shape, strategy, steps,
                               data.in_unit_interval, data.num_train,
                               data=data)
  manager, start_step = _restore(model, config, strategy, resuming, print_fn)
  lock.announce(logdir)  # The run goes ahead: name its holder.
  # Shape and scale of the data, for scripts/export.py (after the restore: a
  # checkpoint that does not fit leaves the run dir as it was).
  spec = rundir.data_spec(data)
  if rundir.read_data_spec(logdir) != spec:
    rundir.write_data_spec(logdir, spec)
  tb.truncate_events(logdir, start_step)

  writers = tb.make_writers(logdir)
  if start_step == 0:
    tb.write_text(writers["train"], "config", config.to_json())
  evaluation = _evaluation(config, data, writers, print_fn,
                           _float32_copy(config, data, policy, steps))
  saver = cb.PeriodicCheckpoint(manager, config.run.checkpoint_every,
                                writers=writers.values())
  callbacks = []
  if start_step < steps:
    callbacks = [
        # The saver comes after the evaluation: see PeriodicCheckpoint.
        cb.NonFiniteGuard(manager), cb.StepLimit(steps),
        cb.BatchScalars(writers["train"], config.runtime.log_every),
        evaluation, saver]
  else:
    print_fn(f"{logdir} already reached step {steps}; evaluating only")
    # Its events are logged already: a second point at this step would
    # duplicate it in TensorBoard.
    evaluation.writer = tb.noop_writer()
  return Run(config=config, data=data, policy=policy, started=started,
             strategy=strategy, steps=steps, start_step=start_step,
             model=model, manager=manager, spec=spec, writers=writers,
             evaluation=evaluation, saver=saver, callbacks=callbacks)


def finish_run(run):
  """Everything of `train` after the training steps: the final checkpoint,
  the final metrics (written to final_metrics.json), the export."""
  config = run.config
  trained = run.start_step < run.steps
  if trained:
    run.saver.save_final()
  final = _final_metrics(run.model, config, run.evaluation, run.started,
                         run.policy, evaluated_only=not trained)
  for writer in run.writers.values():
    writer.close()
  if config.run.export_dir:
    from tfvae.export import saved_model  # pylint: disable=import-outside-toplevel
    final["export_path"] = saved_model.export(
        run.evaluation.scored_model(), config, config.run.export_dir,
        uint8_scale=run.spec["uint8_scale"], step=final["step"])
  return final


def _restore(model, config, strategy, resuming, print_fn):
  """The checkpoint manager, and the step restored (0 for a new run)."""
  with strategy.scope():
    checkpoints.build_optimizer(model)
  directory = paths.checkpoint_dir(config.run.logdir)
  if resuming:  # Resume from the newest checkpoint that reads back.
    checkpoints.set_aside_unreadable(directory, print_fn)
  manager = checkpoints.make_manager(model, directory,
                                     config.run.keep_checkpoints)
  if not resuming:
    return manager, 0
  restored = checkpoints.restore(manager)
  start_step = int(model.optimizer.iterations.numpy())
  if restored:
    print_fn(f"resuming {config.run.logdir} from {restored} (step "
             f"{start_step})")
  return manager, start_step


def _float32_copy(config, data, policy, steps):
  """A float32 model of the run's config for a 16-bit run (None for float32).

  The evaluation and the export score it with the trained weights (float32
  in any policy), so a run's reported numbers and its exports are those of
  the float32 model that `scripts/evaluate.py` and `scripts/export.py`
  rebuild from its checkpoint (to the bit, with the same evaluation seed).
  """
  if policy == "none":
    return None
  with precision.global_policy("none"):
    return build_model(config, data.event_shape, steps,
                       data.in_unit_interval, data.num_train, data=data)


def _evaluation(config, data, writers, print_fn, float32_copy=None):
  """The periodic exact evaluation on the validation set."""
  val_ds = pipeline.eval_dataset(data.validation, data.scale, EVAL_BATCH_SIZE,
                                  config.data.binarization,
                                  config.training.seed + 1)
  if config.model.model == "sequence":
    return text_summaries.TextEvaluation(
        val_ds, writers["validation"], data.validation, data.vocab,
        image_every=config.run.image_every, print_fn=print_fn,
        seed=config.training.seed, float32_copy=float32_copy)
  preview = None  # Image summaries only for image data.
  if tb.is_image_shape(data.event_shape):
    preview = (data.validation[:NUM_IMAGES_LOGGED].astype(np.float32) *
               data.scale)
  return cb.PeriodicEvaluation(val_ds, writers["validation"], preview,
                               image_every=config.run.image_every,
                               print_fn=print_fn, seed=config.training.seed,
                               float32_copy=float32_copy)


def _fit(model, config, data, strategy, start_step, steps, callbacks):
  """Trains from `start_step` to `steps` in "epochs" of `eval_every` steps."""
  train_ds = pipeline.train_dataset(data, config.training.batch_size,
                                    config.training.seed,
                                    config.data.binarization)
  # The pipeline is deterministic given the seed: skip what was consumed.
  # Keras' fit distributes it with the strategy's own API
  # (experimental_distribute_dataset) when a strategy is active.
  train_ds = train_ds.skip(start_step)
  chunk = config.run.eval_every
  # At most the compiled value (the model's per-step log has that many rows).
  model.steps_per_execution = execution_steps(config, start_step, steps,
                                              strategy)
  model.fit(train_ds, epochs=math.ceil((steps - start_step) / chunk),
            steps_per_epoch=chunk, callbacks=callbacks,
            verbose=config.run.verbose)


def _final_metrics(model, config, evaluation, started, policy,
                   evaluated_only):
  """The last evaluation and the weighting, written to final_metrics.json."""
  evaluation.set_model(model)
  result = evaluation.last_result
  if evaluation.last_step != int(model.optimizer.iterations.numpy()):
    result = evaluation.evaluate()
  final = {k: result[k] for k in FINAL_KEYS}
  final.update({k: result[k] for k in TEXT_KEYS if k in result})
  final.update(final_weighting(model, config))
  final.update({
      "step": int(model.optimizer.iterations.numpy()),
      "dataset": config.data.dataset,
      # The precision actually used ("auto" resolved): none = float32.
      "mixed_precision": policy,
      "tfvae_version": __version__,
      "train_seconds": round(time.time() - started, 1),
  })
  logdir = config.run.logdir
  if evaluated_only:  # Nothing trained: keep the training's own time.
    final["train_seconds"] = _previous_train_seconds(logdir, final)
  try:
    rundir.write_final_metrics(logdir, final)
  except OSError as e:
    raise checkpoints.storage_error(paths.final_metrics_path(logdir),
                                    e) from None
  return final


def _previous_train_seconds(logdir, final):
  """`train_seconds` of the run's final metrics at this step, if any."""
  previous = rundir.read_final_metrics(logdir)
  if not isinstance(previous, dict) or previous.get("step") != final["step"]:
    return final["train_seconds"]
  return previous.get("train_seconds", final["train_seconds"])


def final_weighting(model, config):
  """The weighting at the end of training, in every convention."""
  values = {name: float(model.last_batch[name].numpy())
            for name in ("kl_weight", "beta_eff", "beta_norm")}
  if "sigma" in model.last_batch:
    values["sigma"] = float(model.last_batch["sigma"].numpy())
  model_config = config.model
  likelihood = getattr(model, "likelihood", None)
  shared_sigma = likelihood is not None and likelihood.shares_one_sigma
  if shared_sigma or (model_config.model == "reference" and
                      model_config.reference_rec == "l2"):
    # The weight on summed KL per unit of summed squared error, the question's
    # L2/sum units: a Gaussian NLL is SSE / (2 sigma^2) + const.
    sigma_sq = values["sigma"]**2 if "sigma" in values else 0.5
    values["beta_sse_units"] = values["beta_eff"] * 2.0 * sigma_sq
  values["rec_reduction"] = config.objective.rec_reduction
  values["kl_reduction"] = config.objective.kl_reduction
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
  if "perplexity" in final:
    rows.insert(1, ("perplexity (per real token)",
                    f"{final['perplexity']:.3f}"))
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
