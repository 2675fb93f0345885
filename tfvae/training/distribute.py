"""tf.distribute strategies for a run (mixed precision: `tfvae.precision`).

Loss scaling across replicas is done inside the models (per-example losses
divided by the global batch size, `tfvae.objectives.elbo.average_over_batch`),
so N replicas give the same update as one device with the same global batch.
"""

import json
import os

import tensorflow as tf

from tfvae.errors import ConfigError


# One strategy object per kind and process: two MirroredStrategy objects over
# the same devices reuse collective instance keys, and the second one's
# all-reduces then fail with shape mismatches.
_STRATEGIES = {}


def make_strategy(config):
  """The strategy named by `--strategy` (created once per process)."""
  if config.runtime.strategy == "default":
    return tf.distribute.get_strategy()
  key = (config.runtime.strategy, config.runtime.tpu)
  if key not in _STRATEGIES:
    _STRATEGIES[key] = _new_strategy(config)
  return _STRATEGIES[key]


def mirrored_devices():
  """All GPUs, else every logical CPU device (one unless configured)."""
  gpus = tf.config.list_logical_devices("GPU")
  return [d.name for d in gpus or tf.config.list_logical_devices("CPU")]


def _new_strategy(config):
  if config.runtime.strategy == "mirrored":
    return tf.distribute.MirroredStrategy(mirrored_devices())
  if config.runtime.strategy == "multi_worker":
    if "TF_CONFIG" not in os.environ:
      raise ConfigError("strategy=multi_worker needs the TF_CONFIG "
                        "environment variable", params=("strategy",))
    try:
      json.loads(os.environ["TF_CONFIG"])
    except ValueError:
      raise ConfigError("TF_CONFIG is not valid JSON") from None
    return tf.distribute.MultiWorkerMirroredStrategy()
  if config.runtime.strategy == "tpu":
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
        tpu=config.runtime.tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  raise ConfigError(f"unknown strategy {config.runtime.strategy!r}")

