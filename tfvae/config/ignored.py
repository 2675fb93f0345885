"""Settings that a configuration would ignore, named with what would use them.

A value given for a setting the run never reads (`geco_target` without
`balancer=geco`, `sigma` with a Bernoulli decoder, `hidden_units` with the
conv network) usually means the user expects an effect that will not happen.
`ignored(config, given)` lists those among the settings the user gave
explicitly; the command line refuses them with one line that says which
setting would make them count. The rules of a likelihood family's and a
balancer's own settings are generated from their registries.
"""

from typing import Callable, Iterable, List, Tuple

from tfvae import balancing
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
)
# After the balancers' rules (`_balancer_rules`), before the families'.
_RUNTIME_RULES: Tuple[Tuple[Tuple[str, ...], Callable, str], ...] = (
    (("tpu",), lambda c: c.runtime.strategy == "tpu", "strategy=tpu"),
)


def _balancer_rules():
  """A method's settings count only with `balancer=` that method."""
  for name, (_, methods) in balancing.settings_fields().items():
    yield ((name,), lambda c, m=methods: c.balancer.balancer in m,
           "balancer=" + "|".join(methods))


def _family_rules():
  """A family's settings count only with `likelihood=` that family."""
  for name, (_, families) in likelihood_base.settings_fields().items():
    yield ((name,), lambda c, f=families: c.model.likelihood in f,
           "likelihood=" + "|".join(families))


def ignored(config, given: Iterable[str]) -> List[Tuple[str, str]]:
  """(setting, what would use it) for each given setting the run ignores."""
  given = set(given)
  out = []
  rules = (_RULES + tuple(_balancer_rules()) + _RUNTIME_RULES +
           tuple(_family_rules()))
  for names, used, needs in rules:
    if not used(config):
      out.extend((name, needs) for name in names if name in given)
  return out
