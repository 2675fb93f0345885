"""How long and how fast to optimise."""

import dataclasses
import math
from typing import Optional

from tfvae.config.base import Section, option, positive_int
from tfvae.errors import ConfigError

# The run's length when neither `steps` nor `epochs` is given.
DEFAULT_STEPS = 2000


@dataclasses.dataclass
class TrainingConfig(Section):
  """Batch size, length of the run, learning rate and seed."""

  batch_size: int = option(64, "Global batch size.")
  steps: Optional[int] = option(
      None, f"Optimiser steps to train (default {DEFAULT_STEPS}). Exclusive "
      "with --epochs.")
  epochs: Optional[int] = option(
      None, "Passes over the training set. Exclusive with --steps.")
  learning_rate: float = option(1e-3, "Adam learning rate.")
  seed: int = option(0, "Seed of data order, initialisation and posterior "
                     "noise.")

  def total_steps(self, num_train: int) -> int:
    """`steps`, or `epochs` full passes over `num_train` examples (full
    batches only), or DEFAULT_STEPS."""
    if self.steps is not None:
      return self.steps
    if self.epochs is not None:
      return self.epochs * max(1, num_train // self.batch_size)
    return DEFAULT_STEPS

  def validate(self) -> "TrainingConfig":
    positive_int("batch_size", self.batch_size)
    if self.steps is not None and self.epochs is not None:
      raise ConfigError("steps and epochs are mutually exclusive; give one",
                        params=("steps", "epochs"))
    if self.steps is not None:
      positive_int("steps", self.steps)
    if self.epochs is not None:
      positive_int("epochs", self.epochs)
    if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
      raise ConfigError(
          f"learning_rate must be positive, got {self.learning_rate}",
          params=("learning_rate",))
    if self.seed < 0:
      raise ConfigError(f"seed must be >= 0, got {self.seed}",
                        params=("seed",))
    return self
