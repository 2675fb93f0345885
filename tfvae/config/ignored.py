"""Settings that a configuration would ignore, named with what would use them.

A value given for a setting the run never reads (`geco_target` without
`balancer=geco`, `sigma` with a Bernoulli decoder, `hidden_units` with the
conv network) usually means the user expects an effect that will not happen.
`ignored(config, given)` lists those among the settings the user gave
explicitly; the command line refuses them with one line that says which
setting would make them count.
"""

from typing import Callable, Iterable, List, Tuple

from tfvae.likelihoods import base as likelihood_base

# (settings, is the group in use?, what turns it on)
_RULES: Tuple[Tuple[Tuple[str, ...], Callable, str], ...] = (
    (("reference_rec",), lambda c: c.model.model == "reference",
     "model=reference"),
    (("likelihood", "kl_estimator", "rec_reduction", "kl_reduction") +
     tuple(likelihood_base.settings_fields()),
     lambda c: c.model.model in ("vae", "sequence"), "model=vae|sequence"),
    (("hidden_units",), lambda c: (c.model.architecture == "mlp" or
                                   c.model.model == "sequence"),
     "architecture=mlp or model=sequence"),
    (("architecture",), lambda c: c.model.model != "sequence",
     "model=vae|reference"),
    (("word_dropout", "embedding_dim"),
     lambda c: c.model.model == "sequence", "model=sequence"),
    (("kl_warmup_steps", "kl_start", "kl_stop"),
     lambda c: c.balancer.kl_schedule != "constant",
     "kl_schedule=linear|sigmoid|cyclical"),
    (("kl_sigmoid_k", "kl_sigmoid_x0"),
     lambda c: c.balancer.kl_schedule == "sigmoid", "kl_schedule=sigmoid"),
    (("kl_cycles", "kl_cycle_ratio", "kl_cycle_shape"),
     lambda c: c.balancer.kl_schedule == "cyclical", "kl_schedule=cyclical"),
    (("free_bits_mode",), lambda c: c.balancer.free_bits > 0,
     "free_bits > 0"),
    (("capacity_gamma", "capacity_max", "capacity_steps"),
     lambda c: c.balancer.balancer == "capacity", "balancer=capacity"),
    (("geco_target", "geco_target_units", "geco_alpha", "geco_rate",
      "geco_lambda_init"),
     lambda c: c.balancer.balancer == "geco", "balancer=geco"),
    (("control_kl_target", "control_kp", "control_ki", "control_beta_min",
      "control_beta_max"),
     lambda c: c.balancer.balancer == "controlvae", "balancer=controlvae"),
    (("tc_alpha", "tc_beta", "tc_gamma", "tc_estimator"),
     lambda c: c.balancer.balancer == "beta_tcvae", "balancer=beta_tcvae"),
    (("factorvae_gamma", "factorvae_units", "factorvae_layers"),
     lambda c: c.balancer.balancer == "factorvae", "balancer=factorvae"),
    (("dip_lambda_od", "dip_lambda_d"),
     lambda c: c.balancer.balancer in ("dip_vae_i", "dip_vae_ii"),
     "balancer=dip_vae_i|dip_vae_ii"),
    (("tpu",), lambda c: c.runtime.strategy == "tpu", "strategy=tpu"),
)


def _family_rules():
  """A family's settings count only with `likelihood=` that family."""
  for name, (_, families) in likelihood_base.settings_fields().items():
    yield ((name,), lambda c, f=families: c.model.likelihood in f,
           "likelihood=" + "|".join(families))


def ignored(config, given: Iterable[str]) -> List[Tuple[str, str]]:
  """(setting, what would use it) for each given setting the run ignores."""
  given = set(given)
  out = []
  for names, used, needs in _RULES + tuple(_family_rules()):
    if not used(config):
      out.extend((name, needs) for name in names if name in given)
  return out
