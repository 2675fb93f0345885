"""The nested config: defaults, flat and nested forms, validation, flags.

No TensorFlow is imported by anything tested here.
"""

import dataclasses
import subprocess
import sys

import pytest
from absl import flags

from tfvae.config import ExperimentConfig
from tfvae.likelihoods import base as likelihood_base
from tfvae.errors import ConfigError, TfvaeError

# Every setting of tfvae 0.1's flat Config with its default, written out by
# hand: the nested config must keep each name and default.
OLD_DEFAULTS = {
    "dataset": "digits", "binarization": "none", "validation_fraction": 0.1,
    "max_examples": None, "model": "vae", "reference_rec": "l2",
    "likelihood": "gaussian", "sigma": "learned", "rec_reduction": "sum",
    "kl_reduction": "sum", "beta": None, "beta_norm": None,
    "kl_estimator": "analytic", "architecture": "mlp", "latent_dim": 8,
    "hidden_units": 256, "batch_size": 64, "steps": None, "epochs": None,
    "learning_rate": 1e-3, "seed": 0, "kl_schedule": "constant",
    "kl_warmup_steps": 0, "kl_sigmoid_k": None, "kl_sigmoid_x0": None,
    "kl_cycles": 4, "kl_cycle_ratio": 0.5, "kl_cycle_shape": "linear",
    "kl_start": 0.0, "kl_stop": None, "free_bits": 0.0,
    "free_bits_mode": "batch", "balancer": "none", "capacity_gamma": 1000.0,
    "capacity_max": 25.0, "capacity_steps": 100000, "geco_target": None,
    "geco_target_units": "per_pixel", "geco_alpha": 0.99, "geco_rate": 1e-2,
    "geco_lambda_init": 1.0, "control_kl_target": None, "control_kp": 0.01,
    "control_ki": 0.0001, "control_beta_min": 0.0, "control_beta_max": 1.0,
    "logdir": "runs/default", "eval_every": 200, "image_every": 0,
    "checkpoint_every": 500, "keep_checkpoints": 3, "resume": "auto",
    "overwrite": False, "export_dir": None, "verbose": 2,
    "strategy": "default", "tpu": None, "mixed_precision": "none",
    "jit_compile": False, "steps_per_execution": 0, "log_every": 1,
}
# The settings added in 0.2: the Gaussian's mean and the KL-part methods.
NEW_DEFAULTS = {
    "gaussian_mean": "auto", "tc_alpha": 1.0, "tc_beta": 6.0,
    "tc_gamma": 1.0, "tc_estimator": "mss", "factorvae_gamma": 35.0,
    "factorvae_units": 1000, "factorvae_layers": 6, "dip_lambda_od": 10.0,
    "dip_lambda_d": None, "embedding_dim": 64, "word_dropout": 0.0,
}
SECTIONS = {
    "data": ["dataset", "binarization", "validation_fraction",
             "max_examples"],
    # The model's own settings, then every likelihood family's.
    "model": ["model", "reference_rec", "likelihood", "kl_estimator",
              "architecture", "latent_dim", "hidden_units", "embedding_dim",
              "word_dropout"] + list(
                  likelihood_base.settings_fields()),
    "objective": ["rec_reduction", "kl_reduction", "beta", "beta_norm"],
    "training": ["batch_size", "steps", "epochs", "learning_rate", "seed"],
    "runtime": ["strategy", "tpu", "mixed_precision", "jit_compile",
                "steps_per_execution", "log_every"],
    "run": ["logdir", "eval_every", "image_every", "checkpoint_every",
            "keep_checkpoints", "resume", "overwrite", "export_dir",
            "verbose"],
}


def test_defaults_and_names_are_those_of_the_flat_config():
  flat = ExperimentConfig().to_flat()
  for name, default in NEW_DEFAULTS.items():
    assert flat.pop(name) == default
  # The families added after 0.2 declare their own settings.
  for name, (field, families) in likelihood_base.settings_fields().items():
    if name not in OLD_DEFAULTS and name not in NEW_DEFAULTS:
      assert flat.pop(name) == field.default, (name, families)
  assert flat == OLD_DEFAULTS


def test_sections_hold_the_documented_fields():
  nested = ExperimentConfig().to_dict()
  for section, names in SECTIONS.items():
    assert list(nested[section]) == names
  balancer = set(OLD_DEFAULTS) | set(NEW_DEFAULTS)
  balancer -= {n for v in SECTIONS.values() for n in v}
  assert set(nested["balancer"]) == balancer


def test_flat_and_nested_forms_round_trip():
  config = ExperimentConfig.from_flat(
      latent_dim=3, beta_norm=0.5, balancer="none", logdir="x")
  assert config.model.latent_dim == 3 and config.objective.beta_norm == 0.5
  assert config.run.logdir == "x"
  assert ExperimentConfig.from_dict(config.to_dict()) == config
  assert ExperimentConfig.from_flat(config.to_flat()) == config
  # An old run's flat config.json (without the newer settings) still reads.
  old = dict(OLD_DEFAULTS, latent_dim=3)
  assert ExperimentConfig.from_dict(old).model.latent_dim == 3
  assert ExperimentConfig.from_dict(old).model.gaussian_mean == "auto"
  with pytest.raises(ConfigError, match="unknown config keys: nope"):
    ExperimentConfig.from_flat(nope=1)
  with pytest.raises(ConfigError, match="unknown config keys: nope"):
    ExperimentConfig.from_dict({"model": {"nope": 1}})


@pytest.mark.parametrize("values,message,params", [
    ({"beta_norm": -1.0}, r"^beta_norm must be >= 0 and finite, got -1.0$",
     ("beta_norm",)),
    ({"beta": 1.0, "beta_norm": 0.1}, r"^beta and beta_norm are mutually",
     ("beta", "beta_norm")),
    ({"likelihood": "poisson"}, r"^likelihood='poisson' is not one of",
     ("likelihood",)),
    ({"latent_dim": 0}, r"^latent_dim must be an integer >= 1",
     ("latent_dim",)),
    ({"balancer": "geco", "beta": 2.0}, r"^balancer=geco sets the KL weight",
     ("balancer", "beta", "beta_norm")),
    ({"model": "reference", "free_bits": 1.0}, r"^model=reference is",
     ("model",)),
    ({"strategy": "tpu"}, r"^strategy=tpu needs tpu=ADDRESS",
     ("strategy", "tpu")),
])
def test_errors_name_the_parameter_not_the_flag(values, message, params):
  with pytest.raises(ConfigError, match=message) as info:
    ExperimentConfig.from_flat(values).validate()
  assert "--" not in str(info.value)
  assert info.value.params == params
  assert isinstance(info.value, ValueError)
  assert isinstance(info.value, TfvaeError)


def test_validate_leaves_the_file_system_to_the_loaders():
  ExperimentConfig.from_flat(dataset="npz:/no/such/file.npz").validate()
  with pytest.raises(ConfigError, match="needs a value after"):
    ExperimentConfig.from_flat(dataset="npz:").validate()


def test_resolved_kl_weight_converts_beta_norm():
  # beta_norm b: beta_eff = b K / J, weight = beta_eff J_r / K_r.
  config = ExperimentConfig.from_flat(
      beta_norm=0.1, latent_dim=8, rec_reduction="mean", kl_reduction="mean")
  assert config.resolved_kl_weight(64) == pytest.approx(0.1)
  config = ExperimentConfig.from_flat(beta_norm=0.1, latent_dim=8)
  assert config.resolved_kl_weight(64) == pytest.approx(0.8)
  assert ExperimentConfig().resolved_kl_weight(64) == 1.0


def test_flag_message_writes_parameters_as_flags():
  from tfvae.cli.flags import flag_message  # pylint: disable=import-outside-toplevel
  cases = [
      (ConfigError("beta and beta_norm are mutually exclusive; give one",
                   params=("beta", "beta_norm")),
       "--beta and --beta_norm are mutually exclusive; give one"),
      (ConfigError("model=reference has no KL weight; use model=vae for beta",
                   params=("model", "beta")),
       "--model=reference has no KL weight; use --model=vae for --beta"),
      (ConfigError("checkpoint runs/x: the run has no checkpoint yet",
                   params=("checkpoint",)),
       "--checkpoint runs/x: the run has no checkpoint yet"),
      (ConfigError("a message without parameters"),
       "a message without parameters"),
  ]
  for error, expected in cases:
    assert flag_message(error) == expected


def test_flags_are_generated_from_every_field():
  from tfvae.cli import flags as cli  # pylint: disable=import-outside-toplevel
  values = flags.FlagValues()
  cli.define_config_flags(flag_values=values)
  values(["prog", "--latent_dim=3", "--beta=0.5", "--jit_compile",
          "--gaussian_mean=identity"])
  names = ExperimentConfig.field_sections()
  assert set(names) <= set(values)
  config = cli.config_from_flags(flag_values=values)
  assert config.model.latent_dim == 3 and config.objective.beta == 0.5
  assert config.runtime.jit_compile is True
  assert config.model.gaussian_mean == "identity"
  for name, section in ExperimentConfig.sections():
    for field in dataclasses.fields(section):
      assert values[field.name].default == field.default, field.name
      assert values[field.name].help == field.metadata["help"]
