"""Which data a run trains on and how it is prepared."""

import dataclasses
from typing import Literal, Optional

from tfvae.config.base import Section, option, positive_int
from tfvae.errors import ConfigError

BINARIZATIONS = ("none", "static", "dynamic")
DATASET_PREFIXES = ("npz:", "tfds:", "images:", "dsprites_npz:")
BUILTIN_DATASETS = ("digits", "dsprites", "shapes_rgb", "mixed_table",
                    "sentences")
# Kinds whose argument is a path on disk (checked when the data loads).
PATH_KINDS = ("npz", "images", "dsprites_npz")


@dataclasses.dataclass
class DataConfig(Section):
  """The data set, its binarisation and the validation split."""

  dataset: str = option(
      "digits", "digits (default, offline), dsprites (procedural, offline), "
      "shapes_rgb (generated 32x32 colour shapes with known factors), "
      "mixed_table (generated table of mixed column types), "
      "sentences (English sentences shipped with Python, token ids for "
      "model=sequence), "
      "npz:PATH, images:DIR, tfds:NAME[:SPLIT] (needs network), "
      "dsprites_npz:PATH (the original dSprites file).")
  binarization: Literal["none", "static", "dynamic"] = option(
      "none", "none | static (sample once) | dynamic (resample each batch).",
      BINARIZATIONS)
  validation_fraction: float = option(
      0.1, "Fraction held out for validation (when the data set has no test "
      "split).")
  max_examples: Optional[int] = option(
      None, "Use only the first N examples (quick experiments); for the "
      "generated shapes_rgb and mixed_table, how many to generate (default "
      "20000).")

  @property
  def dataset_kind(self) -> str:
    """A built-in name, or `npz`, `tfds`, `images` or `dsprites_npz`."""
    if self.dataset in BUILTIN_DATASETS:
      return self.dataset
    return self.dataset.split(":", 1)[0]

  @property
  def dataset_argument(self) -> str:
    """The part after `kind:` (a path or a TFDS name), or ''."""
    return self.dataset.split(":", 1)[1] if ":" in self.dataset else ""

  def validate(self) -> "DataConfig":
    """Checks the values; whether a path exists is the data loader's check."""
    self.check_choices()
    if (self.dataset not in BUILTIN_DATASETS and
        not self.dataset.startswith(DATASET_PREFIXES)):
      raise ConfigError(
          f"dataset={self.dataset!r} is not one of digits, dsprites, "
          "shapes_rgb, mixed_table, sentences, npz:PATH, images:DIR, tfds:NAME, "
          "dsprites_npz:PATH",
          params=("dataset",))
    if self.dataset_kind in ("npz", "images", "tfds", "dsprites_npz"):
      if not self.dataset_argument:
        raise ConfigError(f"dataset={self.dataset!r} needs a value after ':'",
                          params=("dataset",))
    if self.max_examples is not None:
      positive_int("max_examples", self.max_examples)
    if not 0 <= self.validation_fraction < 1:
      raise ConfigError("validation_fraction must be in [0, 1), got "
                        f"{self.validation_fraction}",
                        params=("validation_fraction",))
    return self
