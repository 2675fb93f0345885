"""The configuration of a tfvae run: typed sections, one per concern.

`ExperimentConfig` (in `tfvae.config.experiment`) holds the sections
`data`, `model`, `objective`, `balancer`, `training`, `runtime` and `run`.
Scripts turn their absl flags into one `ExperimentConfig`
(`ExperimentConfig.from_flat`); library code only ever sees this object and
never reads flags. No TensorFlow import anywhere in this package.
"""

from tfvae.config.balancer import BalancerConfig
from tfvae.config.data import DataConfig
from tfvae.config.experiment import ExperimentConfig
from tfvae.config.model import ModelConfig
from tfvae.config.objective import ObjectiveConfig
from tfvae.config.run import RunConfig
from tfvae.config.runtime import RuntimeConfig
from tfvae.config.training import TrainingConfig

__all__ = ["BalancerConfig", "DataConfig", "ExperimentConfig", "ModelConfig",
           "ObjectiveConfig", "RunConfig", "RuntimeConfig", "TrainingConfig"]
