"""One training run across Ray workers with MultiWorkerMirroredStrategy.

Ray Train's `TensorflowTrainer` starts `num_workers` processes (on one machine
or across a Ray cluster) and sets TF_CONFIG in each, naming all workers and
that worker's index; `--strategy=multi_worker` then builds a
`tf.distribute.MultiWorkerMirroredStrategy` from it. Every worker runs the
same `trainer.train(config)`: each replica computes its share of the global
batch (`--batch_size` is global) and the gradients are all-reduced, so the
run takes the steps one device would take on the whole batch
(docs/performance.md, "Loss scaling").

Every worker writes its own run directory (checkpoints and TensorBoard; all
hold the same values): the chief (worker 0) writes `config.logdir`, worker i
`<logdir>.worker<i>`. A failed worker fails the run (no retry: workers killed
between two checkpoint saves would resume at different steps); rerunning the
same call resumes every worker from its checkpoint when all of them hold the
same latest step.

Ray is optional (`pip install tfvae[ray]`).
"""

import os

from tfvae.errors import ConfigError
from tfvae.runs import rundir

CHIEF = 0


def worker_logdir(logdir, rank):
  """The run directory of worker `rank`."""
  return logdir if rank == CHIEF else f"{logdir}.worker{rank}"


def _train_worker(loop_config):
  """Ray Train's per-worker loop: the ordinary trainer under TF_CONFIG."""
  import ray.train  # pylint: disable=import-outside-toplevel
  from tfvae.training import trainer  # pylint: disable=import-outside-toplevel
  rank = ray.train.get_context().get_world_rank()
  config = loop_config["config"]
  config = config.replace_flat(strategy="multi_worker",
                               logdir=worker_logdir(config.run.logdir, rank))
  trainer.train(config, print_fn=print if rank == CHIEF else
                (lambda *a, **k: None))


def train_multi_worker(config, num_workers=2, cpus_per_worker=1, use_gpu=False,
                       storage_path=None):
  """Trains `config` as one run on `num_workers` Ray workers.

  Connects to the running Ray instance (`ray.init` first: locally or with a
  cluster address).

  Args:
    config: the run's `ExperimentConfig` (its strategy is set to
      `multi_worker`; `batch_size` is the global batch).
    num_workers: worker processes (Ray Train's ScalingConfig).
    cpus_per_worker: CPUs Ray reserves per worker.
    use_gpu: one GPU per worker.
    storage_path: where Ray Train keeps its own records (default: next to the
      run, `<logdir>.ray`); a path every node sees on a cluster.

  Returns:
    The chief's final metrics (its `final_metrics.json`).
  """
  if num_workers < 1:
    raise ConfigError(f"num_workers must be >= 1, got {num_workers}")
  try:
    # pylint: disable=import-outside-toplevel
    from ray.train import RunConfig, ScalingConfig
    from ray.train.tensorflow import TensorflowTrainer
  except ImportError:
    raise ConfigError("training on Ray workers needs Ray Train: pip install "
                      "'tfvae[ray]'") from None
  config.validate()
  logdir = config.run.logdir
  storage = os.path.abspath(storage_path or f"{logdir}.ray")
  trainer = TensorflowTrainer(
      _train_worker,
      train_loop_config={"config": config},
      scaling_config=ScalingConfig(
          num_workers=num_workers, use_gpu=use_gpu,
          resources_per_worker={"CPU": cpus_per_worker}),
      run_config=RunConfig(name=os.path.basename(os.path.normpath(logdir)),
                           storage_path=storage))
  trainer.fit()
  return rundir.read_final_metrics(logdir)
