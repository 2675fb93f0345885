"""Evaluating a run's latest checkpoint or an exported SavedModel.

Both paths measure the same diagnostics (`tfvae.metrics.diagnostics`), the
collapse warning and, on data sets with ground-truth factors, the
disentanglement metrics (`tfvae.evaluation.metrics`); a checkpoint adds the
training objective's value and the KL weighting, which are not exported.
"""

# TensorFlow loads lazily, so bad input fails before it does.
# pylint: disable=import-outside-toplevel

import dataclasses
import os

from tfvae.errors import DataError
from tfvae.evaluation import loading
from tfvae.evaluation import metrics as metrics_lib
from tfvae.evaluation import report
from tfvae.evaluation import tensorboard
from tfvae.evaluation.options import DEFAULT_ELBO_SAMPLES
from tfvae.evaluation.options import DEFAULT_IW_SAMPLES
from tfvae.evaluation.options import EVAL_BATCH_SIZE
from tfvae.evaluation.options import EvaluationOptions
from tfvae.export.reader import SavedModelAdapter
from tfvae.runs import rundir


def evaluate_run(logdir, dataset=None, iw_samples=DEFAULT_IW_SAMPLES,
                 metrics="auto", sizes=None, seed=0, split="validation",
                 max_examples=None, batch_size=EVAL_BATCH_SIZE,
                 tensorboard_dir="default", print_fn=None,
                 elbo_samples=DEFAULT_ELBO_SAMPLES):
  """Evaluates the latest checkpoint of a run; returns a JSON-ready dict.

  Args:
    logdir: the run directory (config.json + checkpoints/).
    dataset: another data set of the same image shape (a `dataset` value);
      default: the run's own.
    iw_samples: k of the importance-weighted bound (0 skips it).
    metrics: "auto" (all on factor data sets, none otherwise) or a list of
      names from `tfvae.evaluation.METRICS`.
    sizes: `MetricSizes` (default: disentanglement_lib's).
    seed: seed of every random draw of the evaluation.
    split: "validation" (the run's held-out set) or "train".
    max_examples: evaluate at most this many examples of the split.
    batch_size: examples per evaluation batch.
    tensorboard_dir: where to write TensorBoard summaries; "default" is
      `default_output_paths(logdir, dataset)`, None writes none.
    print_fn: progress messages (None: silent).
    elbo_samples: posterior samples per example of the distortion estimate
      (the rate is exact), so -ELBO = D + R is not one sample's noise.

  Returns:
    dict with every diagnostic, `collapse_warning`, `disentanglement` (full
    metric outputs) and their headline scores at the top level.
  """
  options = EvaluationOptions(dataset, iw_samples, metrics, sizes, seed, split,
                              max_examples, batch_size, elbo_samples).validate()
  run_config = loading.read_run_config(logdir)
  config, ground_truth, metric_names = _prepare(run_config, options)
  data = loading.load_data(config, seed)
  spec = rundir.read_data_spec(logdir)
  if spec is not None and tuple(spec["image_shape"]) != data.image_shape:
    raise DataError(f"{config.data.dataset} has images of shape "
                    f"{data.image_shape}; the run {logdir} was trained on "
                    f"{tuple(spec['image_shape'])}")
  run = loading.load_run(logdir, data.image_shape)
  result = {
      "logdir": os.path.abspath(logdir),
      "checkpoint": run.checkpoint,
      "step": run.step,
  }
  result.update(_evaluate_model(run.model, run_config, config, data, options,
                                ground_truth, metric_names, print_fn,
                                f"{logdir} (step {run.step})"))
  first_batch = next(iter(loading.eval_dataset(data, options, config)))
  result.update(loading.model_weighting(run, first_batch))
  if tensorboard_dir == "default":
    tensorboard_dir = report.default_output_paths(logdir, dataset)[1]
  _maybe_write_tensorboard(tensorboard_dir, result, run.model, data, options,
                           run.step)
  return result


def evaluate_saved_model(path, dataset=None, iw_samples=DEFAULT_IW_SAMPLES,
                         metrics="auto", sizes=None, seed=0,
                         split="validation", max_examples=None,
                         batch_size=EVAL_BATCH_SIZE, tensorboard_dir=None,
                         print_fn=None, elbo_samples=DEFAULT_ELBO_SAMPLES):
  """Evaluates an exported SavedModel (`tfvae.export`); see `evaluate_run`.

  Everything but the training objective's `loss` and the KL weighting is
  measured, from the `encode`, `decode` and `reconstruct` signatures and the
  config saved as an asset (`SavedModelAdapter`). `path` is one version
  directory or the model's base directory (its latest version). Nothing is
  written into the SavedModel; TensorBoard summaries only to
  `tensorboard_dir` when given.
  """
  options = EvaluationOptions(dataset, iw_samples, metrics, sizes, seed, split,
                              max_examples, batch_size, elbo_samples).validate()
  adapter = SavedModelAdapter(path)
  config, ground_truth, metric_names = _prepare(adapter.config, options)
  data = loading.load_data(config, seed)
  if data.image_shape != adapter.image_shape:
    raise DataError(f"{config.data.dataset} has images of shape "
                    f"{data.image_shape}; the SavedModel {adapter.path} takes "
                    f"{adapter.image_shape}")
  result = {"saved_model": adapter.path}
  result.update(_evaluate_model(adapter, adapter.config, config, data, options,
                                ground_truth, metric_names, print_fn,
                                adapter.path))
  result.pop("loss", None)  # The training objective is not exported.
  step = int(adapter.metadata.get("step") or 0)
  result["step"] = step
  _maybe_write_tensorboard(tensorboard_dir, result, adapter, data, options,
                           step)
  return result


def _prepare(run_config, options):
  """(evaluation config, ground-truth data or None, metric names)."""
  config = loading.evaluation_config(run_config, options.dataset)
  ground_truth = loading.factor_source(config)
  metric_names = metrics_lib.select_metrics(
      options.metrics, ground_truth is not None, config.data.dataset)
  return config, ground_truth, metric_names


def _evaluate_model(model, run_config, config, data, options, ground_truth,
                    metric_names, print_fn, what):
  """Diagnostics, the collapse warning and the disentanglement metrics."""
  from tfvae.metrics import diagnostics
  say = print_fn or (lambda *_: None)
  eval_ds = loading.eval_dataset(data, options, config)
  count = loading.split_images(data, options.split,
                               options.max_examples).shape[0]
  say(f"evaluating {what} on {count} {options.split} examples of "
      f"{config.data.dataset}")
  diag, _, _ = diagnostics.evaluate(
      model, eval_ds, iw_samples=options.iw_samples, seed=options.seed,
      distortion_samples=options.elbo_samples)
  result = {
      "dataset": config.data.dataset,
      "split": options.split,
      "seed": options.seed,
      "model": run_config.model.model,
      "likelihood": run_config.model.likelihood,
      "balancer": run_config.balancer.balancer,
  }
  result.update(diag)
  if run_config.model.model == "sequence":
    # Per-token perplexities over the real tokens (and the IWAE's).
    from tfvae.metrics import text as text_metrics
    ids = loading.split_images(data, options.split, options.max_examples)
    pad_id = getattr(model, "pad_id", 0)
    result.update(text_metrics.perplexities(
        diag, text_metrics.tokens_per_sentence(ids, pad_id)))
  result["collapse_warning"] = metrics_lib.collapse_warning(
      diag["collapsed_dims"], diag["latent_dim"])
  if metric_names:
    sizes = options.sizes
    say(f"disentanglement metrics: {', '.join(metric_names)} "
        f"({sizes.num_train} train / {sizes.num_eval} eval points)")
    represent = metrics_lib.representation_function(model, data.scale,
                                                    data.image_shape)
    scores = metrics_lib.disentanglement_metrics(
        represent, ground_truth, sizes, metric_names, options.seed)
    result["disentanglement"] = scores
    result["metric_sizes"] = dataclasses.asdict(sizes)
    result.update(metrics_lib.headline_scores(scores))
  return result


def _maybe_write_tensorboard(directory, result, model, data, options, step):
  if not directory:
    return
  images = loading.split_images(data, options.split, options.max_examples)
  tensorboard.write_tensorboard(directory, result, model,
                                tensorboard.preview_images(images, data.scale),
                                step)
  result["tensorboard_dir"] = directory


def evaluate_and_write(options, logdir=None, saved_model=None,
                       output_json=None, tensorboard=True,
                       tensorboard_dir=None, print_fn=None):
  """Evaluates a run or an export and writes the JSON; returns (result, path).

  Exactly one of `logdir` and `saved_model`. A run's JSON goes to
  `output_json` or `<logdir>/evaluation[-<dataset>].json` and its TensorBoard
  summaries (with `tensorboard`) to `tensorboard_dir` or the default beside
  it; an export needs `output_json` (nothing is written into a SavedModel)
  and writes TensorBoard only to `tensorboard_dir`. Whether the JSON can be
  written is checked before the (long) evaluation.
  """
  from tfvae.errors import ConfigError
  if bool(logdir) == bool(saved_model):
    raise ConfigError("give one of logdir=RUN and saved_model=DIR",
                      params=("logdir", "saved_model"))
  kwargs = dict(dataclasses.asdict(options), sizes=options.sizes,
                print_fn=print_fn)
  if saved_model:
    if not output_json:
      raise ConfigError("saved_model needs output_json (nothing is written "
                        "into a SavedModel)",
                        params=("saved_model", "output_json"))
    report.check_writable(output_json)
    result = evaluate_saved_model(saved_model, tensorboard_dir=tensorboard_dir,
                                  **kwargs)
  else:
    json_path, tb_dir = report.default_output_paths(logdir, options.dataset)
    output_json = output_json or json_path
    report.check_writable(output_json)
    result = evaluate_run(
        logdir, tensorboard_dir=(tensorboard_dir or tb_dir) if tensorboard
        else None, **kwargs)
  report.write_json(output_json, result)
  return result, output_json
