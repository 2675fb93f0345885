"""The names of a run directory's files.

    <logdir>/
      config.json          the run's full config (written atomically at start)
      checkpoints/         tf.train.CheckpointManager files (model, optimizer,
                           global step, schedule and controller state)
      train/, validation/  TensorBoard event files
      final_metrics.json   written atomically at the end
      data.json            shape and scale of the training data (export needs
                           them without reloading the data)
      evaluation.json      the latest evaluation (`tfvae.evaluation`)
"""

import os

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
FINAL_METRICS_FILE = "final_metrics.json"
DATA_FILE = "data.json"
EVALUATION_FILE = "evaluation.json"


def config_path(logdir):
  return os.path.join(logdir, CONFIG_FILE)


def checkpoint_dir(logdir):
  return os.path.join(logdir, CHECKPOINT_DIR)


def final_metrics_path(logdir):
  return os.path.join(logdir, FINAL_METRICS_FILE)


def data_spec_path(logdir):
  return os.path.join(logdir, DATA_FILE)


def has_config(logdir):
  return os.path.exists(config_path(logdir))


def has_run(logdir):
  return has_config(logdir) or os.path.isdir(checkpoint_dir(logdir))
