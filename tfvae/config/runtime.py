"""Where and how the computation runs: devices, precision, compilation."""

import dataclasses
from typing import Literal, Optional

from tfvae.config.base import Section, option, positive_int
from tfvae.errors import ConfigError

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
MIXED_PRECISION = ("none", "mixed_float16", "mixed_bfloat16", "auto")


@dataclasses.dataclass
class RuntimeConfig(Section):
  """Distribution strategy, mixed precision, XLA and execution batching."""

  strategy: Literal["default", "mirrored", "multi_worker", "tpu"] = option(
      "default", "default | mirrored | multi_worker (reads TF_CONFIG) | tpu.",
      STRATEGIES)
  tpu: Optional[str] = option(None, "TPU address for --strategy=tpu.")
  mixed_precision: Literal["none", "mixed_float16", "mixed_bfloat16",
                           "auto"] = option(
      "none", "none (float32) | auto (bfloat16 on a CPU with AVX512-BF16/AMX "
      "or a GPU of compute capability >= 8.0, else float32) | "
      "mixed_bfloat16 | mixed_float16. Likelihood, KL and reductions stay "
      "float32; see docs/performance.md for when bfloat16 keeps the ELBO.",
      MIXED_PRECISION)
  jit_compile: bool = option(
      False, "Compile the train step with XLA (off by default: slower on CPU, "
      "see docs/performance.md; try it on a GPU).")
  steps_per_execution: int = option(
      0, "Train steps per tf.function call; 0 = auto (50; KL schedules stay "
      "exact per step). Reduced to divide --eval_every, --checkpoint_every "
      "and the steps to run; every step is still logged and checked.")
  log_every: int = option(
      1, "Write the per-step training scalars to TensorBoard every N steps "
      "(validation is logged every --eval_every steps).")

  def validate(self) -> "RuntimeConfig":
    self.check_choices()
    if (not isinstance(self.steps_per_execution, int) or
        isinstance(self.steps_per_execution, bool) or
        self.steps_per_execution < 0):
      raise ConfigError("steps_per_execution must be an integer >= 0 (0: "
                        f"auto), got {self.steps_per_execution!r}",
                        params=("steps_per_execution",))
    positive_int("log_every", self.log_every)
    if self.strategy == "tpu" and not self.tpu:
      raise ConfigError("strategy=tpu needs tpu=ADDRESS",
                        params=("strategy", "tpu"))
    return self
