"""The whole configuration of a run: one section per concern.

    ExperimentConfig
      data       DataConfig       dataset, binarisation, validation split
      model      ModelConfig      model class, likelihood, networks, J
      objective  ObjectiveConfig  reductions, beta / beta_norm
      balancer   BalancerConfig   schedules, free bits, capacity, GECO, ControlVAE
      training   TrainingConfig   batch size, steps/epochs, learning rate, seed
      runtime    RuntimeConfig    strategy, precision, XLA, steps per execution
      run        RunConfig        logdir, cadences, resume, export

Every field name is unique across the sections, so the flat form (`from_flat`,
`to_flat`: {field: value}) names each setting as the command line's flag of
the same name does, and a flat `config.json` reads as well as a nested
one (`from_dict` accepts both forms). `validate()` checks every value and every
combination before any TensorFlow work starts; it never looks at the file
system (the data loader and `tfvae.runs` do). No TensorFlow import here.
"""

import dataclasses
import json

from tfvae.config.balancer import BalancerConfig
from tfvae.config.data import DataConfig
from tfvae.config.model import ModelConfig
from tfvae.config.objective import ObjectiveConfig
from tfvae.config.run import RunConfig
from tfvae.config.runtime import RuntimeConfig
from tfvae.config.training import TrainingConfig
from tfvae.errors import ConfigError

# Settings that fix the shapes of the model's variables.
ARCHITECTURE_KEYS = ("model", "reference_rec", "likelihood", "sigma",
                     "architecture", "latent_dim", "hidden_units", "dataset",
                     "balancer")
# Settings whose change does not make a resumed run a different run: how long
# to train and where/how often to log or save.
NOT_TRAINING_KEYS = ("steps", "epochs", "logdir", "resume", "overwrite",
                     "export_dir", "verbose", "eval_every", "image_every",
                     "checkpoint_every", "keep_checkpoints", "jit_compile",
                     "steps_per_execution", "log_every")


@dataclasses.dataclass
class ExperimentConfig:
  """Every setting of a training run, grouped by concern."""

  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
  objective: ObjectiveConfig = dataclasses.field(
      default_factory=ObjectiveConfig)
  balancer: BalancerConfig = dataclasses.field(default_factory=BalancerConfig)
  training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
  runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)
  run: RunConfig = dataclasses.field(default_factory=RunConfig)

  # ------------------------------------------------------------ structure

  @classmethod
  def sections(cls):
    """[(section name, section class)] in declaration order."""
    return [(f.name, f.default_factory) for f in dataclasses.fields(cls)]

  @classmethod
  def field_sections(cls):
    """{field name: section name} of every setting."""
    return {field.name: name for name, section in cls.sections()
            for field in dataclasses.fields(section)}

  # -------------------------------------------------------- conversions

  @classmethod
  def from_flat(cls, values=None, /, **overrides) -> "ExperimentConfig":
    """The config of {field: value} (today's flag names); the rest default.

    Raises:
      ConfigError: naming every unknown key.
    """
    values = {**(values or {}), **overrides}
    owner = cls.field_sections()
    unknown = sorted(set(values) - set(owner))
    if unknown:
      raise ConfigError(f"unknown config keys: {', '.join(unknown)}")
    grouped = {name: {} for name, _ in cls.sections()}
    for key, value in values.items():
      grouped[owner[key]][key] = value
    return cls(**{name: section(**grouped[name])
                  for name, section in cls.sections()})

  def to_flat(self) -> dict:
    """{field: value} of every setting (the flag names)."""
    flat = {}
    for name, _ in self.sections():
      flat.update(dataclasses.asdict(getattr(self, name)))
    return flat

  def to_dict(self) -> dict:
    """{section: {field: value}}, the form written to `config.json`."""
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values: dict) -> "ExperimentConfig":
    """The config of a nested dict, or of a flat {field: value} one."""
    names = {name for name, _ in cls.sections()}
    nested = bool(values) and all(
        key in names and isinstance(value, dict)
        for key, value in values.items())
    if not nested:
      return cls.from_flat(values)
    unknown = []
    sections = {}
    for name, section in cls.sections():
      part = values.get(name, {})
      fields = {f.name for f in dataclasses.fields(section)}
      unknown += sorted(set(part) - fields)
      sections[name] = section(**{k: v for k, v in part.items()
                                  if k in fields})
    if unknown:
      raise ConfigError(f"unknown config keys: {', '.join(unknown)}")
    return cls(**sections)

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  def replace_flat(self, **values) -> "ExperimentConfig":
    """A copy with some settings (flat names) replaced; not validated."""
    return self.from_flat({**self.to_flat(), **values})

  def architecture_dict(self) -> dict:
    """The settings that fix the shapes of the model's variables.

    A checkpoint can only be restored into a model with the same values.
    """
    flat = self.to_flat()
    return {k: flat[k] for k in ARCHITECTURE_KEYS}

  def training_dict(self) -> dict:
    """Settings whose change makes a resumed run a different run."""
    return {k: v for k, v in self.to_flat().items()
            if k not in NOT_TRAINING_KEYS}

  # ----------------------------------------------------------- validation

  def validate(self) -> "ExperimentConfig":
    """Checks every value and combination; raises one `ConfigError`."""
    for name, _ in self.sections():
      if name != "balancer":
        getattr(self, name).validate()
    balancer = self.balancer
    balancer.validate(weight_given=self.objective.weight_given)
    if self.model.model == "reference":
      if balancer.balancer != "none" or balancer.free_bits > 0:
        raise ConfigError("model=reference is the question's fixed loss; "
                          "balancers and free bits need model=vae",
                          params=("model",))
      if self.objective.weight_given:
        raise ConfigError("model=reference has no KL weight (it is the "
                          "question's loss); use model=vae for beta",
                          params=("model", "beta"))
      if balancer.kl_schedule != "constant":
        raise ConfigError("kl_schedule needs model=vae",
                          params=("kl_schedule", "model"))
    chosen = balancer.balancer_class()
    if chosen is not None:
      chosen.check_config(self)
    return self

  def resolved_kl_weight(self, num_features: int) -> float:
    """The weight as written on the reduced KL term for K = num_features."""
    return self.objective.weighting().kl_weight(num_features,
                                                self.model.latent_dim)
