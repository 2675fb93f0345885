"""A balancer is its module: a user's class with its own `Settings`, registered
before the config is built, gets its `--balancer` choice, its flag and help,
its ignored-flag rule, its checks, the general cross-method rules, the
factory, the sweep report's label and weight flag and the translator, with
no other file touched. The built-ins are read from the registry the same way.
"""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from tfvae import balancing
from tfvae.analysis import sweep_report
from tfvae.config import ExperimentConfig
from tfvae.config import ignored
from tfvae.config.balancer import BalancerConfig
from tfvae.errors import ConfigError

# The user's module: two methods, one weighting the KL as written, one that
# sets the weight itself; then everything the command line does.
USER = r'''
import dataclasses, json
import tensorflow as tf
import tfvae
from tfvae.errors import ConfigError
from tfvae.settings import option

@dataclasses.dataclass
class FloorSettings:
  user_floor: float = option(0.0, "User floor: free nats of summed KL.")

@tfvae.balancers.register("user_floor")
class UserFloor(tfvae.balancers.Balancer):
  Settings = FloorSettings
  label = "User floor"
  citation = "Someone et al."
  weight_settings = ("user_floor",)

  def __init__(self, floor=0.0, name="balancer", **kwargs):
    super().__init__(name=name, **kwargs)
    self.floor = float(floor)

  @classmethod
  def from_config_section(cls, section, context):
    return cls(section.user_floor)

  @classmethod
  def check_settings(cls, section):
    super().check_settings(section)
    if not section.user_floor >= 0:
      raise ConfigError(f"user_floor must be >= 0, got {section.user_floor}",
                        params=("user_floor",))

  def balance(self, terms, step, training):
    w = tf.cast(terms.kl_weight, tf.float32)
    excess = tf.nn.relu(terms.rate - self.floor) / terms.kl_divisor
    return tfvae.balancers.Balanced(
        per_example=terms.rec + w * excess, kl_weight=w,
        beta_eff=w * terms.rec_divisor / terms.kl_divisor)

@dataclasses.dataclass
class PinSettings:
  user_pin: float = option(1.0, "User pin: the weight it holds.")

@tfvae.balancers.register("user_pin")
class UserPin(UserFloor):
  Settings = PinSettings
  sets_weight = True
  label = ""
  citation = ""

  @classmethod
  def from_config_section(cls, section, context):
    return cls(0.0)

  @classmethod
  def check_settings(cls, section):
    pass

from absl import flags as absl_flags
from tfvae.cli import flags
from tfvae.analysis import sweep_report
from tfvae.conventions import native
from tfvae.models import factory

out = {}
def parse(*args, typed=None):
  values = absl_flags.FlagValues()
  flags.define_config_flags(flag_values=values)
  values(["train.py", *args])
  names = [a[2:].split("=")[0] for a in args]
  try:
    return flags.config_from_flags(values, typed=names if typed is None
                                   else typed)
  except ConfigError as e:
    return [str(e), list(e.params)]

values = absl_flags.FlagValues()
flags.define_config_flags(flag_values=values)
out["help"] = values["balancer"].help
out["floor_help"] = values["user_floor"].help
config = parse("--balancer=user_floor", "--user_floor=2")
out["floor"] = config.balancer.user_floor
balancer = factory.build_balancer(config)
out["built"] = [type(balancer).__name__, balancer.floor]
out["ignored"] = parse("--user_floor=2")
out["bad"] = parse("--balancer=user_floor", "--user_floor=-1")
out["bad_choice"] = parse("--balancer=user_flor")
out["pin_beta"] = parse("--balancer=user_pin", "--beta=2")
out["pin_schedule"] = parse("--balancer=user_pin", "--kl_schedule=linear",
                            "--kl_warmup_steps=10")
flat = config.to_flat()
out["label"] = sweep_report.method_label(flat)
out["pin_label"] = sweep_report.method_label({"balancer": "user_pin"})
out["weight_flags"] = list(sweep_report.weight_flags())
convention = native.from_config(dict(flat, beta=0.5), (8,))
out["translated"] = [convention.weight, convention.formula]
try:
  native.from_config({"balancer": "user_pin"}, (8,))
  out["pin_translated"] = "no error"
except ConfigError as e:
  out["pin_translated"] = str(e)
out["pin_finished"] = native.from_config(
    {"balancer": "user_pin"}, (8,), {"kl_weight": 0.25}).weight
print("RESULT " + json.dumps(out))
'''


@pytest.fixture(scope="module")
def user():
  proc = subprocess.run([sys.executable, "-c", USER], capture_output=True,
                        text=True, timeout=300, cwd=ROOT,
                        env=dict(os.environ, PYTHONPATH=ROOT))
  assert proc.returncode == 0, proc.stderr[-3000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
  return json.loads(line[len("RESULT "):])


def test_user_balancer_gets_its_choice_and_flag(user):
  assert user["help"].startswith("none | capacity (Burgess et al.) | ")
  assert user["help"].endswith(
      "dip_vae_ii (Kumar et al.) | user_floor (Someone et al.) | user_pin.")
  assert user["floor_help"] == "User floor: free nats of summed KL."
  assert user["floor"] == 2.0
  assert user["built"] == ["UserFloor", 2.0]
  assert user["bad_choice"][0] == (
      "balancer='user_flor' is not one of none, capacity, geco, controlvae, "
      "beta_tcvae, factorvae, dip_vae_i, dip_vae_ii, user_floor, user_pin")


def test_user_balancer_gets_its_ignored_rule_and_checks(user):
  assert user["ignored"] == [
      "user_floor is ignored unless balancer=user_floor; drop it",
      ["user_floor", "balancer"]]
  assert user["bad"] == ["user_floor must be >= 0, got -1.0", ["user_floor"]]
  # The general rules read `sets_weight`, not a list of names.
  assert user["pin_beta"] == [
      "balancer=user_pin sets the KL weight itself; drop beta/beta_norm",
      ["balancer", "beta", "beta_norm"]]
  assert user["pin_schedule"][0] == (
      "balancer=user_pin and kl_schedule=linear both set the KL weight; "
      "pick one")


def test_user_balancer_in_the_report_and_the_translator(user):
  assert user["label"] == "User floor"
  assert user["pin_label"] == "user_pin"  # no label: its name
  assert "user_floor" in user["weight_flags"]
  assert user["translated"] == [0.5, "NLL_sum + beta KL_sum"]
  assert user["pin_translated"] == (
      "--balancer=user_pin sets the KL weight during training; read the "
      "finished run instead (--from=run:DIR)")
  assert user["pin_finished"] == 0.25


# ------------------------------------------------------- the built-in ones

BUILT_IN = ("capacity", "geco", "controlvae", "beta_tcvae", "factorvae",
            "dip_vae_i", "dip_vae_ii")


def test_the_choices_and_settings_come_from_the_registry():
  selectable = balancing.selectable()
  assert tuple(c.registry_name for c in selectable) == BUILT_IN
  field = next(f for f in dataclasses.fields(BalancerConfig)
               if f.name == "balancer")
  assert field.metadata["choices"] == ("none",) + BUILT_IN
  names = [f.name for f in dataclasses.fields(BalancerConfig)]
  for cls in selectable:
    for own in dataclasses.fields(cls.Settings):
      assert own.name in names, (cls, own.name)
  # DIP-VAE-I and -II share their two settings.
  assert balancing.settings_fields()["dip_lambda_od"][1] == (
      "dip_vae_i", "dip_vae_ii")
  assert {c.registry_name for c in selectable if c.sets_weight} == {
      "capacity", "geco", "controlvae"}
  assert {c.registry_name for c in selectable if c.weights_kl_parts} == {
      "beta_tcvae", "factorvae", "dip_vae_i", "dip_vae_ii"}
  assert [sweep_report.method_label({"balancer": n}) for n in BUILT_IN] == [
      "capacity", "GECO", "ControlVAE", "beta-TCVAE", "FactorVAE",
      "DIP-VAE-I", "DIP-VAE-II"]


def test_a_methods_settings_count_only_with_it():
  """Settings of a method that is not chosen are ignored (the command line
  refuses them when typed), not checked."""
  config = ExperimentConfig.from_flat(tc_beta=-1.0).validate()
  assert ignored.ignored(config, ["tc_beta", "dip_lambda_d"]) == [
      ("tc_beta", "balancer=beta_tcvae"),
      ("dip_lambda_d", "balancer=dip_vae_i|dip_vae_ii")]
  with pytest.raises(ConfigError) as info:
    ExperimentConfig.from_flat(balancer="beta_tcvae", tc_beta=-1.0).validate()
  assert info.value.params == ("tc_beta",)
