"""tfvae's own convention: its training flags (this repository's
`tfvae.config.ExperimentConfig`, whose fields are the flags; tfvae 0.2.0).

    loss = rec + beta kl,  rec = NLL summed (--rec_reduction=sum) or averaged
    over the K features, kl = KL summed or averaged over the J latents,

with the NLL of `--likelihood` (bernoulli, continuous_bernoulli, or gaussian
with `--sigma`: a number, or learned / optimal, fitted during training).
`--beta_norm b` is beta_eff = b K / J (`tfvae.objectives.weighting`).
`--model=reference` is the question's loss (`--reference_rec=l2`: SSE;
`bce`: clipped BCE), both summed, weight 1. Each balancer says what its
weight is (`tfvae.balancing`, `translator_entry`): `--balancer=capacity` is
rec + gamma |KL_sum - C(t)|; GECO and ControlVAE set the weight during
training (read the finished run). The same fields come from flagfiles
(`tfvae.conventions.flagfile`) and run directories
(`tfvae.conventions.rundir`), which both call `from_config`.
"""

import dataclasses
import math

from tfvae.conventions import _common
from tfvae.conventions import convention as convention_lib
from tfvae.conventions.convention import Capacity
from tfvae.conventions.convention import Convention
from tfvae.conventions.convention import SIGMA_MODES
from tfvae.errors import ConfigError
from tfvae.objectives import weighting

PEER = "tfvae"
VERSION = "tfvae 0.2.0"
SOURCE = "tfvae/config/"


def defaults():
  """Every flag's default, read from the config (`tfvae.config`)."""
  from tfvae.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
  return ExperimentConfig().to_flat()


def likelihood_names():
  """The registered likelihood families (`tfvae.likelihoods`)."""
  from tfvae import likelihoods  # pylint: disable=import-outside-toplevel
  return likelihoods.names()


def _family_settings(likelihood, values):
  """(flag, value) of the family's own settings given in `values` (other
  than the Gaussian's sigma, which the convention carries itself)."""
  from tfvae import likelihoods  # pylint: disable=import-outside-toplevel
  fields = dataclasses.fields(likelihoods.lookup(likelihood).Settings)
  return tuple((f.name, str(values[f.name])) for f in fields
               if f.name in values and f.name != "sigma" and
               values[f.name] is not None and values[f.name] != f.default)
# Event shapes of tfvae's built-in data sets.
DATASET_SHAPES = {"digits": (8, 8, 1), "dsprites": (64, 64, 1),
                  "shapes_rgb": (32, 32, 3), "mixed_table": (9,)}


def _sigma_value(sigma):
  """A --sigma value: one of the modes, or a number (None stays None)."""
  if sigma is None or (isinstance(sigma, str) and sigma in SIGMA_MODES):
    return sigma
  try:
    return float(sigma)
  except (TypeError, ValueError):
    raise ConfigError(f"sigma={sigma!r} must be a positive number or one of "
                      f"{', '.join(SIGMA_MODES)}") from None


def _label(likelihood, sigma, rec, kl):
  what = likelihood
  if likelihood == "gaussian":
    what += f" sigma={sigma if isinstance(sigma, str) else f'{sigma:.6g}'}"
  return f"tfvae, {what}, {rec}/{kl}"


def _convention(likelihood, sigma, rec, kl, weight, event_shape, latent_dim,
                capacity=None, notes=(), settings=()):
  regularizer = "gamma |KL_sum - C(t)|" if capacity else f"beta KL_{kl}"
  formula = f"NLL_{rec} + {regularizer}"
  return Convention(
      "nll", event_shape, latent_dim, weight=weight, rec_reduction=rec,
      kl_reduction=kl, likelihood=likelihood,
      sigma=sigma if likelihood == "gaussian" else None, capacity=capacity,
      likelihood_settings=tuple(settings), name=PEER, label=_label(likelihood, sigma, rec, kl), formula=formula,
      weight_name="--capacity_gamma" if capacity else "--beta", notes=notes)


def read(beta=None, reconstruction_loss="gaussian", sigma=None,
         rec_reduction="sum", kl_reduction="sum", input_shape=None,
         latent_dim=None):
  """tfvae's flags: `reconstruction_loss` is `--likelihood`."""
  _common.choice("reconstruction_loss", reconstruction_loss,
                 likelihood_names())
  if sigma is not None and reconstruction_loss != "gaussian":
    raise ConfigError(f"sigma applies to a Gaussian decoder; "
                      f"{reconstruction_loss} has none")
  shape = _common.required("input_shape", _common.parse_shape(input_shape),
                           PEER)
  _common.required("latent_dim", latent_dim, PEER)
  return from_config({
      "likelihood": reconstruction_loss,
      "sigma": "learned" if sigma is None else sigma,
      "rec_reduction": rec_reduction, "kl_reduction": kl_reduction,
      "beta": _common.number("beta", beta), "latent_dim": latent_dim,
  }, shape)


def _balancer_entry(values):
  """The translator entry of the run's balancer (`tfvae.balancing`); the
  weight as written for none or a name this process has not registered."""
  from tfvae import balancing  # pylint: disable=import-outside-toplevel
  name = values["balancer"]
  if name == "none" or name not in balancing.names():
    return {"weight": "weighting"}
  return balancing.lookup(name).translator_entry(values)


def _reference(v, event_shape, latent_dim):
  """The question's loss (`--model=reference`), weight 1."""
  _common.choice("reference_rec", v["reference_rec"], ("l2", "bce"))
  kind = "squared_error" if v["reference_rec"] == "l2" else "bce"
  return Convention(
      kind, event_shape, latent_dim, weight=1.0, name=PEER,
      label=f"tfvae --model=reference --reference_rec={v['reference_rec']}",
      formula=("SSE" if kind == "squared_error" else "BCE_sum") +
      " + KL_sum", weight_name="(none)")


def _fitted_sigma(v, likelihood, final):
  """(sigma, notes): a Gaussian's sigma, the fitted one of a finished run."""
  sigma = _sigma_value(v["sigma"]) if likelihood == "gaussian" else None
  notes = []
  if isinstance(sigma, str) and sigma in ("learned", "optimal"):
    if "sigma" in final:
      notes.append(f"--sigma={sigma}: sigma {final['sigma']:.6g} at the end "
                   "of training")
      sigma = float(final["sigma"])
    else:
      notes.append(f"--sigma={sigma}: sigma is fitted during training; "
                   "beta_l2 = 2 sigma^2 beta_eff is known after it "
                   "(--from=run:DIR)")
  elif sigma in ("learned_channel", "learned_pixel"):
    notes.append(f"--sigma={sigma}: no single sigma, no beta_l2")
  return sigma, notes


def _weight(v, entry, final, notes, num_features, latent_dim):
  """The KL weight as written: the `Weighting`'s, or one set during training
  (by the balancer or a schedule: the finished run's, else the schedule's
  end); appends to `notes` what it says about it."""
  balancer, schedule = v["balancer"], v["kl_schedule"]

  def written():
    return weighting.Weighting(
        v["rec_reduction"], v["kl_reduction"], v["beta"],
        v["beta_norm"]).kl_weight(num_features, latent_dim)

  if entry["weight"] == "weighting" and schedule == "constant":
    return written()
  what = (f"--balancer={balancer}" if balancer != "none" else
          f"--kl_schedule={schedule}")
  if "kl_weight" in final:
    notes.append(f"{what}: the weight changes during training; this is "
                 "its value at the end")
    return float(final["kl_weight"])
  if balancer != "none":
    raise ConfigError(f"{what} sets the KL weight during training; read "
                      "the finished run instead (--from=run:DIR)")
  notes.append(f"{what}: the weight it reaches (--kl_stop or --beta)")
  return written() if v["kl_stop"] is None else v["kl_stop"]


def from_config(values, event_shape, final_metrics=None):
  """The convention of a (flat) tfvae config dict; missing keys: defaults.

  The balancer says what its weight is (`Balancer.translator_entry`).

  Args:
    values: flat config values (flagfile or config.json).
    event_shape: the data's event shape.
    final_metrics: a finished run's final_metrics.json, or None: it supplies
      the fitted sigma and a weight set during training.
  """
  v = defaults()
  v.update({k: val for k, val in values.items() if val is not None or
            k in ("beta", "beta_norm", "kl_stop")})
  final = final_metrics or {}
  latent_dim = v["latent_dim"]
  if isinstance(latent_dim, str):
    latent_dim = int(latent_dim)
  for name in ("rec_reduction", "kl_reduction"):
    _common.choice(name, v[name], ("sum", "mean"))
  if v["model"] == "reference":
    return _reference(v, event_shape, latent_dim)
  _common.choice("model", v["model"], ("vae", "reference"))
  likelihood = _common.choice("likelihood", v["likelihood"],
                              likelihood_names())
  settings = _family_settings(likelihood, v)
  sigma, notes = _fitted_sigma(v, likelihood, final)
  entry = _balancer_entry(v)
  notes.extend(entry.get("notes", ()))
  if "capacity" in entry:
    return _convention(likelihood, sigma, v["rec_reduction"],
                       entry["kl_reduction"], float(entry["weight"]),
                       event_shape, latent_dim, Capacity(*entry["capacity"]),
                       tuple(notes), settings)
  weight = _weight(v, entry, final, notes, math.prod(event_shape), latent_dim)
  if float(v["free_bits"] or 0) > 0:
    notes.append(f"--free_bits={v['free_bits']}: no gradient through KL_j "
                 "below the floor")
  return _convention(likelihood, sigma, v["rec_reduction"], v["kl_reduction"],
                     float(weight), event_shape, latent_dim, None,
                     tuple(notes), settings)


def targets(event_shape, latent_dim, sigma=None, family=None):
  """tfvae in both reductions and with a capacity (the capacity's numbers
  are the source's); a Gaussian keeps `sigma` (the source's). `family`, the
  source's likelihood, is included when it is not built in (a registered
  one: `columns`, `categorical`, a user's)."""
  likelihoods = (["gaussian"] if sigma is not None else []) + [
      name for name in convention_lib.BUILT_IN_LIKELIHOODS
      if name != "gaussian"]
  if family is not None and family not in likelihoods and family != "gaussian":
    likelihoods.append(family)
  out = []
  for red in ("sum", "mean"):
    for likelihood in likelihoods:
      out.append(_convention(likelihood, sigma, red, red, 1.0, event_shape,
                             latent_dim))
  values = defaults()
  for likelihood in likelihoods:
    out.append(_convention(likelihood, sigma, "sum", "sum", 1.0, event_shape,
                           latent_dim, Capacity(values["capacity_max"],
                                                values["capacity_steps"])))
  return out
