"""Subprocess side of the Ray Train test in tests/test_sweep_ray.py.

    python tests/ray_multi_worker_check.py LOGDIR

Starts Ray on this machine only (loopback, 2 CPUs, no dashboard), trains one
tiny digits run on two Ray Train workers (MultiWorkerMirroredStrategy from the
TF_CONFIG that Ray Train sets), shuts Ray down and prints the chief's final
metrics as JSON on the last line.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# A local instance on the loopback address only (see tfvae.analysis.engines).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ray  # pylint: disable=wrong-import-position

from tfvae.training.ray_multi_worker import train_multi_worker  # pylint: disable=wrong-import-position


def make_config(**values):
  """The run's config from flat values."""
  from tfvae.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
  return ExperimentConfig.from_flat(**values)


def main(logdir):
  ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
           runtime_env={"env_vars": {"PYTHONPATH": ROOT,
                                     "TF_CPP_MIN_LOG_LEVEL": "2"}})
  try:
    config = make_config(dataset="digits", hidden_units=16, latent_dim=2,
                         steps=10, eval_every=10, batch_size=32, verbose=0,
                         logdir=logdir)
    final = train_multi_worker(config, num_workers=2, cpus_per_worker=1)
  finally:
    ray.shutdown()
  print(json.dumps(final))


if __name__ == "__main__":
  main(sys.argv[1])
