"""Weighting conventions of VAE losses: read one, write it in every other.

    from tfvae import conventions
    c = conventions.read("pythae", beta=4, reconstruction_loss="mse",
                         input_shape=(64, 64, 1), latent_dim=10)
    c.beta_eff, c.beta_norm, c.beta_l2, c.sigma2   # 4, 0.00977, 8, 1
    c.tfvae_flags()                                # --sigma=1 --beta=4 ...
    for row in conventions.equivalents(c): ...     # the same objective elsewhere

Readers (one module each, each names the peer version and file it follows):
`pythae`, `disentanglement_lib` (also gin files), `disent`, `keras_example`,
`question`, `tfp_layers` (TFP's KL layers as its VAE example uses them),
`pytorch_vae` (PyTorch-VAE's kld_weight = M / N), `tvae` (CTGAN/SDV's
loss_factor), `tfvae` (its flags), `flagfile` and `run` (tfvae flagfiles and
run directories). The math is `tfvae.objectives.weighting`; see
`tfvae.conventions.convention` for the units. Plain Python: TensorFlow loads
only when a tfvae config or a registered likelihood family is read.
"""

import dataclasses
import inspect
import math
from typing import List, Optional

from tfvae.conventions import disent
from tfvae.conventions import disentanglement_lib
from tfvae.conventions import flagfile
from tfvae.conventions import keras_example
from tfvae.conventions import native
from tfvae.conventions import pythae
from tfvae.conventions import pytorch_vae
from tfvae.conventions import question
from tfvae.conventions import rundir
from tfvae.conventions import sentence_vae
from tfvae.conventions import tfp_layers
from tfvae.conventions import tvae
from tfvae.conventions.convention import Capacity
from tfvae.conventions.convention import Convention
from tfvae.errors import ConfigError

# Peers that are read from values (--from=NAME).
PEERS = {
    "pythae": pythae,
    "disentanglement_lib": disentanglement_lib,
    "disent": disent,
    "keras_example": keras_example,
    "question": question,
    "tfp_layers": tfp_layers,
    "pytorch_vae": pytorch_vae,
    "tvae": tvae,
    "sentence_vae": sentence_vae,
    "tfvae": native,
}
# Sources that are files (--from=KIND:PATH).
FILE_SOURCES = {
    "flagfile": flagfile.read,
    "run": rundir.read,
    "gin": disentanglement_lib.read_gin,
    "pythae_config": pythae.read_config,
}

__all__ = ["Capacity", "Convention", "PEERS", "FILE_SOURCES", "read",
           "equivalents", "Equivalent", "optimal_sigma_convention"]


def read(source: str, **values) -> Convention:
  """The convention of `source` with `values`.

  Args:
    source: a peer name (see PEERS) or "KIND:PATH" with KIND one of
      flagfile, run, gin, pythae_config.
    **values: the peer's settings (beta, gamma, c_max, iteration_threshold,
      reconstruction_loss, rec_reduction, kl_reduction, loss_reduction,
      sigma, input_shape, latent_dim; tfp_layers' layer and batch_size,
      pytorch_vae's batch_size and dataset_size); None values are ignored.
      A value the peer has no place for is an error.

  Raises:
    ConfigError: unknown source, a value that does not apply, or bad values.
  """
  values = {k: v for k, v in values.items() if v is not None}
  kind, sep, path = source.partition(":")
  if sep:
    if kind not in FILE_SOURCES:
      raise ConfigError(f"unknown convention source {source!r}: use one of "
                        f"{', '.join(PEERS)} or "
                        f"{', '.join(k + ':PATH' for k in FILE_SOURCES)}")
    if not path:
      raise ConfigError(f"{kind}: needs a path after the colon")
    reader = FILE_SOURCES[kind]
    return _call(reader, f"--from={kind}:PATH", path, **values)
  if source not in PEERS:
    raise ConfigError(f"unknown convention {source!r}: use one of "
                      f"{', '.join(PEERS)} or "
                      f"{', '.join(k + ':PATH' for k in FILE_SOURCES)}")
  return _call(PEERS[source].read, source, **values)


def _call(fn, what, *args, **values):
  accepted = inspect.signature(fn).parameters
  extra = sorted(set(values) - set(accepted))
  if extra:
    raise ConfigError(f"{', '.join(extra)} does not apply to {what} "
                      f"(it takes {', '.join(p for p in accepted if p != 'path' and p != 'logdir')})")
  return fn(*args, **values)


@dataclasses.dataclass(frozen=True)
class Equivalent:
  """One row of the translation: a peer's convention, or why it has none."""
  peer: str
  label: str
  convention: Optional[Convention]
  reason: str = ""


def equivalents(source: Convention) -> List[Equivalent]:
  """The objective of `source` written in every peer's conventions."""
  rows = []
  sigma = math.sqrt(source.sigma2) if source.sigma2 is not None else None
  for name, module in PEERS.items():
    if module is native:
      templates = native.targets(source.event_shape, source.latent_dim, sigma,
                                 source.family)
    else:
      templates = module.targets(source.event_shape, source.latent_dim)
    for template in templates:
      if template.family != source.family:
        continue
      if (template.capacity is None) != (source.capacity is None):
        continue
      try:
        rows.append(Equivalent(name, template.describe(),
                               template.same_objective_as(source)))
      except ConfigError as e:
        rows.append(Equivalent(name, template.describe(), None, str(e)))
  return rows


def optimal_sigma_convention(sigma2: float, event_shape, latent_dim: int):
  """The ELBO-optimal weighting a fitted decoder variance implies.

  A Gaussian decoder whose shared sigma^2 maximises the likelihood (the
  sigma-VAE's optimal sigma: sigma*^2 = MSE; Rybkin et al. 2021) with the
  plain ELBO (beta_eff = 1) is, in squared-error units, SSE + 2 sigma*^2
  KL_sum: beta_l2 = 2 sigma*^2.
  """
  if not (isinstance(sigma2, (int, float)) and math.isfinite(sigma2) and
          sigma2 > 0):
    raise ConfigError(f"sigma2 must be positive and finite, got {sigma2!r}")
  return native.read(beta=1.0, reconstruction_loss="gaussian",
                     sigma=math.sqrt(sigma2), input_shape=tuple(event_shape),
                     latent_dim=latent_dim)
