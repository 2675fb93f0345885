"""Where a run lives and what it writes: logdir, evaluation, checkpoints.

The directory's rules (resume, overwrite) are applied by `tfvae.runs`; this
section only holds and checks the values.
"""

import dataclasses
from typing import Literal, Optional

from tfvae.config.base import Section, option, positive_int
from tfvae.errors import ConfigError

RESUME_MODES = ("auto", "true", "false")


@dataclasses.dataclass
class RunConfig(Section):
  """The run directory, logging and checkpoint cadence, and the export."""

  logdir: str = option("runs/default", "Run directory (config, checkpoints, "
                       "TensorBoard events).")
  eval_every: int = option(200, "Evaluate the validation set every N steps.")
  image_every: int = option(0, "Write images every N steps (0: at every "
                            "evaluation).")
  checkpoint_every: int = option(500, "Save a checkpoint every N steps (and "
                                 "at the end).")
  keep_checkpoints: int = option(3, "Checkpoints to keep.")
  resume: Literal["auto", "true", "false"] = option(
      "auto", "auto (resume a run of the same config) | true | false.",
      RESUME_MODES)
  overwrite: bool = option(False, "Replace an existing run in --logdir.")
  export_dir: Optional[str] = option(
      None, "After training, export a versioned SavedModel under "
      "EXPORT_DIR/<version>/.")
  verbose: int = option(2, "Keras fit verbosity (0 silent, 1 progress bar, 2 "
                        "one line per evaluation interval).")

  def validate(self) -> "RunConfig":
    self.check_choices()
    positive_int("eval_every", self.eval_every)
    positive_int("checkpoint_every", self.checkpoint_every)
    positive_int("keep_checkpoints", self.keep_checkpoints)
    if self.image_every < 0:
      raise ConfigError(f"image_every must be >= 0, got {self.image_every}",
                        params=("image_every",))
    if not self.logdir:
      raise ConfigError("logdir must not be empty", params=("logdir",))
    if self.export_dir is not None and not self.export_dir:
      raise ConfigError("export_dir must not be empty", params=("export_dir",))
    return self
