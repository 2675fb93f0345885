"""The single configuration object of a tfvae run.

Scripts turn their absl flags into one `Config`; library code only ever sees this
object and never reads flags. `Config.validate()` checks every value and every
combination before any TensorFlow work starts, so bad input fails fast with one
clear `ConfigError` line. This module deliberately does not import TensorFlow.

Weighting conventions (see README "Weighting conventions"):

- `rec_reduction` / `kl_reduction` choose `sum` or `mean` over the K input features
  and the J latent dimensions; examples are always averaged over the batch.
- `beta` is the weight *as written* on the reduced KL term:
  `loss = rec_reduced + beta * kl_reduced`.
- `beta_norm` is Higgins et al.'s normalised weight, `beta_norm = beta_eff * J / K`,
  where `beta_eff` is the weight on the summed KL per unit of summed NLL (ELBO units).
  `beta` and `beta_norm` are mutually exclusive.
"""

import dataclasses
import json
import math
import os
from typing import Optional

from tfvae.errors import ConfigError

MODELS = ("vae", "reference")
REFERENCE_RECS = ("l2", "bce")
LIKELIHOODS = ("bernoulli", "continuous_bernoulli", "gaussian")
SIGMA_MODES = ("learned", "learned_channel", "learned_pixel", "optimal")
REDUCTIONS = ("sum", "mean")
KL_ESTIMATORS = ("analytic", "monte_carlo")
ARCHITECTURES = ("mlp", "conv")
BINARIZATIONS = ("none", "static", "dynamic")
KL_SCHEDULES = ("constant", "linear", "sigmoid", "cyclical")
CYCLE_SHAPES = ("linear", "sigmoid", "cosine")
BALANCERS = ("none", "capacity", "geco", "controlvae")
FREE_BITS_MODES = ("batch", "example")
GECO_UNITS = ("per_pixel", "per_example")
RESUME_MODES = ("auto", "true", "false")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
# "auto": bfloat16 where the hardware computes it natively (tfvae.precision).
MIXED_PRECISION = ("none", "mixed_float16", "mixed_bfloat16", "auto")
DATASET_PREFIXES = ("npz:", "tfds:", "images:", "dsprites_npz:")
BUILTIN_DATASETS = ("digits", "dsprites")


@dataclasses.dataclass
class Config:
  """Every setting of a training run; field docs are the flag help texts."""

  # Data.
  dataset: str = "digits"
  binarization: str = "none"
  validation_fraction: float = 0.1
  max_examples: Optional[int] = None

  # Model and objective.
  model: str = "vae"
  reference_rec: str = "l2"
  likelihood: str = "gaussian"
  sigma: str = "learned"
  rec_reduction: str = "sum"
  kl_reduction: str = "sum"
  beta: Optional[float] = None
  beta_norm: Optional[float] = None
  kl_estimator: str = "analytic"
  architecture: str = "mlp"
  latent_dim: int = 8
  hidden_units: int = 256

  # Optimisation.
  batch_size: int = 64
  steps: Optional[int] = None
  epochs: Optional[int] = None
  learning_rate: float = 1e-3
  seed: int = 0

  # KL schedules and balancing methods.
  kl_schedule: str = "constant"
  kl_warmup_steps: int = 0
  kl_sigmoid_k: Optional[float] = None
  kl_sigmoid_x0: Optional[float] = None
  kl_cycles: int = 4
  kl_cycle_ratio: float = 0.5
  kl_cycle_shape: str = "linear"
  kl_start: float = 0.0
  kl_stop: Optional[float] = None
  free_bits: float = 0.0
  free_bits_mode: str = "batch"
  balancer: str = "none"
  capacity_gamma: float = 1000.0
  capacity_max: float = 25.0
  capacity_steps: int = 100000
  geco_target: Optional[float] = None
  geco_target_units: str = "per_pixel"
  geco_alpha: float = 0.99
  geco_rate: float = 1e-2
  geco_lambda_init: float = 1.0
  control_kl_target: Optional[float] = None
  control_kp: float = 0.01
  control_ki: float = 0.0001
  control_beta_min: float = 0.0
  control_beta_max: float = 1.0

  # Logging, checkpoints, export.
  logdir: str = "runs/default"
  eval_every: int = 200
  image_every: int = 0
  checkpoint_every: int = 500
  keep_checkpoints: int = 3
  resume: str = "auto"
  overwrite: bool = False
  export_dir: Optional[str] = None
  verbose: int = 2

  # Scale and speed.
  strategy: str = "default"
  tpu: Optional[str] = None
  mixed_precision: str = "none"
  jit_compile: bool = False
  steps_per_execution: int = 0
  log_every: int = 1

  # ----------------------------------------------------------------- helpers

  @property
  def dataset_kind(self) -> str:
    """`digits`, `dsprites`, `npz`, `tfds`, `images` or `dsprites_npz`."""
    if self.dataset in BUILTIN_DATASETS:
      return self.dataset
    return self.dataset.split(":", 1)[0]

  @property
  def dataset_argument(self) -> str:
    """The part after `kind:` (a path or a TFDS name), or ''."""
    return self.dataset.split(":", 1)[1] if ":" in self.dataset else ""

  @property
  def fixed_sigma(self) -> Optional[float]:
    """The decoder sigma when `--sigma` is a number, else None."""
    try:
      return float(self.sigma)
    except (TypeError, ValueError):
      return None

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, values: dict) -> "Config":
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
      raise ConfigError(f"unknown config keys: {', '.join(unknown)}")
    return cls(**values)

  def architecture_dict(self) -> dict:
    """The settings that fix the shapes of the model's variables.

    A checkpoint can only be restored into a model with the same values.
    """
    keys = ("model", "reference_rec", "likelihood", "sigma", "architecture",
            "latent_dim", "hidden_units", "dataset", "balancer")
    return {k: getattr(self, k) for k in keys}

  def training_dict(self) -> dict:
    """Settings whose change makes a resumed run a different run.

    Everything except how long to train and where/how often to log or save.
    """
    ignore = {"steps", "epochs", "logdir", "resume", "overwrite", "export_dir",
              "verbose", "eval_every", "image_every", "checkpoint_every",
              "keep_checkpoints", "jit_compile", "steps_per_execution",
              "log_every"}
    return {k: v for k, v in self.to_dict().items() if k not in ignore}

  # -------------------------------------------------------------- validation

  def validate(self) -> "Config":
    """Checks every value; raises `ConfigError` with one clear line."""
    _one_of("model", self.model, MODELS)
    _one_of("reference_rec", self.reference_rec, REFERENCE_RECS)
    _one_of("likelihood", self.likelihood, LIKELIHOODS)
    _one_of("rec_reduction", self.rec_reduction, REDUCTIONS)
    _one_of("kl_reduction", self.kl_reduction, REDUCTIONS)
    _one_of("kl_estimator", self.kl_estimator, KL_ESTIMATORS)
    _one_of("architecture", self.architecture, ARCHITECTURES)
    _one_of("binarization", self.binarization, BINARIZATIONS)
    _one_of("kl_schedule", self.kl_schedule, KL_SCHEDULES)
    _one_of("kl_cycle_shape", self.kl_cycle_shape, CYCLE_SHAPES)
    _one_of("balancer", self.balancer, BALANCERS)
    _one_of("free_bits_mode", self.free_bits_mode, FREE_BITS_MODES)
    _one_of("geco_target_units", self.geco_target_units, GECO_UNITS)
    _one_of("resume", self.resume, RESUME_MODES)
    _one_of("strategy", self.strategy, STRATEGIES)
    _one_of("mixed_precision", self.mixed_precision, MIXED_PRECISION)

    if (self.dataset not in BUILTIN_DATASETS and
        not self.dataset.startswith(DATASET_PREFIXES)):
      raise ConfigError(
          f"--dataset={self.dataset!r} is not one of digits, dsprites, "
          "npz:PATH, images:DIR, tfds:NAME, dsprites_npz:PATH")
    if self.dataset_kind in ("npz", "images", "tfds", "dsprites_npz"):
      if not self.dataset_argument:
        raise ConfigError(f"--dataset={self.dataset!r} needs a value after ':'")
    if self.dataset_kind in ("npz", "images", "dsprites_npz"):
      if not os.path.exists(self.dataset_argument):
        raise ConfigError(
            f"--dataset: no such file or directory: {self.dataset_argument}")

    if self.likelihood == "gaussian":
      sigma = self.fixed_sigma
      if sigma is None and self.sigma not in SIGMA_MODES:
        raise ConfigError(
            f"--sigma={self.sigma!r} must be a positive number or one of "
            f"{', '.join(SIGMA_MODES)}")
      if sigma is not None and not (sigma > 0 and math.isfinite(sigma)):
        raise ConfigError(f"--sigma must be positive and finite, got {sigma}")

    if self.beta is not None and self.beta_norm is not None:
      raise ConfigError("--beta and --beta_norm are mutually exclusive; give one")
    for name in ("beta", "beta_norm"):
      value = getattr(self, name)
      if value is not None and not (value >= 0 and math.isfinite(value)):
        raise ConfigError(f"--{name} must be >= 0 and finite, got {value}")

    _positive_int("latent_dim", self.latent_dim)
    _positive_int("hidden_units", self.hidden_units)
    _positive_int("batch_size", self.batch_size)
    _positive_int("eval_every", self.eval_every)
    _positive_int("checkpoint_every", self.checkpoint_every)
    _positive_int("keep_checkpoints", self.keep_checkpoints)
    if (not isinstance(self.steps_per_execution, int) or
        isinstance(self.steps_per_execution, bool) or
        self.steps_per_execution < 0):
      raise ConfigError("--steps_per_execution must be an integer >= 0 (0: "
                        f"auto), got {self.steps_per_execution!r}")
    _positive_int("log_every", self.log_every)
    if self.image_every < 0:
      raise ConfigError(f"--image_every must be >= 0, got {self.image_every}")
    if self.steps is not None and self.epochs is not None:
      raise ConfigError("--steps and --epochs are mutually exclusive; give one")
    if self.steps is not None:
      _positive_int("steps", self.steps)
    if self.epochs is not None:
      _positive_int("epochs", self.epochs)
    if self.max_examples is not None:
      _positive_int("max_examples", self.max_examples)
    if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
      raise ConfigError(
          f"--learning_rate must be positive, got {self.learning_rate}")
    if not 0 <= self.validation_fraction < 1:
      raise ConfigError("--validation_fraction must be in [0, 1), got "
                        f"{self.validation_fraction}")
    if self.seed < 0:
      raise ConfigError(f"--seed must be >= 0, got {self.seed}")

    self._validate_balancing()

    if self.model == "reference":
      if self.balancer != "none" or self.free_bits > 0:
        raise ConfigError("--model=reference is the question's fixed loss; "
                          "balancers and free bits need --model=vae")
      if self.beta is not None or self.beta_norm is not None:
        raise ConfigError("--model=reference has no KL weight (it is the "
                          "question's loss); use --model=vae for --beta")
      if self.kl_schedule != "constant":
        raise ConfigError("--kl_schedule needs --model=vae")
    if self.strategy == "tpu" and not self.tpu:
      raise ConfigError("--strategy=tpu needs --tpu=ADDRESS")
    if not self.logdir:
      raise ConfigError("--logdir must not be empty")
    if self.export_dir is not None and not self.export_dir:
      raise ConfigError("--export_dir must not be empty")
    return self

  def _validate_balancing(self):
    if self.kl_warmup_steps < 0:
      raise ConfigError(
          f"--kl_warmup_steps must be >= 0, got {self.kl_warmup_steps}")
    if self.kl_schedule in ("linear", "sigmoid", "cyclical"):
      if self.kl_warmup_steps <= 0:
        raise ConfigError(f"--kl_schedule={self.kl_schedule} needs "
                          "--kl_warmup_steps > 0")
    if self.kl_cycles < 1:
      raise ConfigError(f"--kl_cycles must be >= 1, got {self.kl_cycles}")
    if not 0 < self.kl_cycle_ratio <= 1:
      raise ConfigError(
          f"--kl_cycle_ratio must be in (0, 1], got {self.kl_cycle_ratio}")
    if self.kl_start < 0 or (self.kl_stop is not None and self.kl_stop < 0):
      raise ConfigError("--kl_start and --kl_stop must be >= 0")
    if not (self.free_bits >= 0 and math.isfinite(self.free_bits)):
      raise ConfigError(f"--free_bits must be >= 0, got {self.free_bits}")

    weight_given = self.beta is not None or self.beta_norm is not None
    if self.balancer == "capacity":
      if self.capacity_gamma <= 0 or self.capacity_max < 0:
        raise ConfigError("--capacity_gamma must be > 0 and --capacity_max >= 0")
      _positive_int("capacity_steps", self.capacity_steps)
      if self.free_bits > 0:
        # The capacity term acts on the raw summed KL; a floor would be ignored.
        raise ConfigError("--balancer=capacity already sets a KL target; "
                          "--free_bits would be ignored, drop it")
    if self.balancer in ("capacity", "geco", "controlvae"):
      if weight_given:
        raise ConfigError(f"--balancer={self.balancer} sets the KL weight "
                          "itself; drop --beta/--beta_norm")
      if self.kl_schedule != "constant":
        raise ConfigError(f"--balancer={self.balancer} and --kl_schedule="
                          f"{self.kl_schedule} both set the KL weight; pick one")
    if self.balancer == "geco":
      # A continuous likelihood's NLL may be <= 0, so any finite kappa is valid.
      if self.geco_target is None or not math.isfinite(self.geco_target):
        raise ConfigError("--balancer=geco needs a finite --geco_target (a "
                          "reconstruction NLL in nats, per pixel or per "
                          "example as --geco_target_units says)")
      if not 0 <= self.geco_alpha < 1:
        raise ConfigError(f"--geco_alpha must be in [0, 1), got {self.geco_alpha}")
      if self.geco_rate <= 0 or self.geco_lambda_init <= 0:
        raise ConfigError("--geco_rate and --geco_lambda_init must be > 0")
    if self.balancer == "controlvae":
      if self.control_kl_target is None or self.control_kl_target < 0:
        raise ConfigError("--balancer=controlvae needs --control_kl_target >= 0 "
                          "(nats, summed over latent dimensions)")
      if self.control_kp < 0 or self.control_ki < 0:
        raise ConfigError("--control_kp and --control_ki must be >= 0")
      if not 0 <= self.control_beta_min <= self.control_beta_max:
        raise ConfigError("need 0 <= --control_beta_min <= --control_beta_max")

  # ------------------------------------------------------- weight conversion

  def resolved_kl_weight(self, num_features: int) -> float:
    """The weight as written on the reduced KL term (`beta`).

    `--beta_norm b` is converted through beta_eff = b K / J and
    beta = beta_eff * J_r / K_r, where K_r = K for a mean reduction of the
    reconstruction (else 1) and J_r likewise for the KL.
    """
    if self.beta_norm is None:
      return 1.0 if self.beta is None else float(self.beta)
    beta_eff = self.beta_norm * num_features / self.latent_dim
    return beta_eff * self.kl_divisor / self.rec_divisor(num_features)

  def rec_divisor(self, num_features: int) -> float:
    return float(num_features) if self.rec_reduction == "mean" else 1.0

  @property
  def kl_divisor(self) -> float:
    return float(self.latent_dim) if self.kl_reduction == "mean" else 1.0


def _one_of(name, value, choices):
  if value not in choices:
    raise ConfigError(f"--{name}={value!r} is not one of {', '.join(choices)}")


def _positive_int(name, value):
  if not isinstance(value, int) or isinstance(value, bool) or value < 1:
    raise ConfigError(f"--{name} must be an integer >= 1, got {value!r}")
