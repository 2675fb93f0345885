"""pythae's BetaVAE (clementchadebec/benchmark_VAE, pythae 0.1.2, commit 24939dc).

Follows `src/pythae/models/beta_vae/beta_vae_model.py`, `loss_function`:

    mse: recon = 0.5 * F.mse_loss(recon_x, x, reduction="none").sum(-1)
    bce: recon = F.binary_cross_entropy(recon_x, x, reduction="none").sum(-1)
    KLD = -0.5 * sum_j (1 + log_var - mu^2 - exp(log_var))
    loss = mean_batch(recon + beta * KLD)

`BetaVAEConfig`: `beta` (default 1.0), `reconstruction_loss` ("mse" default,
or "bce"), `input_dim` (C, H, W), `latent_dim` (default 10).

So mse is 0.5 SSE: a Gaussian with sigma^2 = 1 up to a constant, and pythae's
beta is the beta_eff of that Gaussian (2 beta in the question's L2/sum units);
bce is the Bernoulli NLL with beta_eff = beta. (Releases before 0.1.2 summed
the squared error without the 0.5: sigma^2 = 1/2, beta_l2 = beta.)
"""

import json

from tfvae.conventions import _common
from tfvae.conventions.convention import Convention
from tfvae.errors import ConfigError

PEER = "pythae"
VERSION = "pythae 0.1.2 (commit 24939dc)"
SOURCE = "src/pythae/models/beta_vae/beta_vae_model.py"
RECONSTRUCTION_LOSSES = ("mse", "bce")


def _convention(reconstruction_loss, beta, event_shape, latent_dim):
  if reconstruction_loss == "mse":
    return Convention(
        "squared_error", event_shape, latent_dim, weight=beta, factor=0.5,
        name=PEER, label="pythae BetaVAE, reconstruction_loss=mse",
        formula="0.5 SSE + beta KL_sum", weight_name="beta")
  return Convention(
      "bce", event_shape, latent_dim, weight=beta, name=PEER,
      label="pythae BetaVAE, reconstruction_loss=bce",
      formula="BCE_sum + beta KL_sum", weight_name="beta")


def read(beta=1.0, reconstruction_loss="mse", input_shape=None,
         latent_dim=10):
  """The convention of a pythae `BetaVAEConfig` with these values.

  Args:
    beta: `BetaVAEConfig.beta` (pythae's default 1.0).
    reconstruction_loss: "mse" (pythae's default) or "bce".
    input_shape: `input_dim`; any order (only the product K matters).
    latent_dim: `latent_dim` (pythae's default 10).
  """
  _common.choice("reconstruction_loss", reconstruction_loss,
                 RECONSTRUCTION_LOSSES)
  shape = _common.required("input_shape", _common.parse_shape(input_shape),
                           PEER)
  beta = _common.number("beta", beta)
  return _convention(reconstruction_loss, beta, shape, latent_dim)


def read_config(path):
  """Reads a pythae `model_config.json` (as saved with a BetaVAE model)."""
  try:
    with open(path) as f:
      values = json.load(f)
  except (OSError, ValueError) as e:
    raise ConfigError(f"{path}: cannot read the pythae config ({e})") from None
  name = values.get("name", "BetaVAEConfig")
  if name not in ("BetaVAEConfig", "VAEConfig"):
    raise ConfigError(f"{path}: {name} is not a pythae BetaVAEConfig/VAEConfig")
  if values.get("input_dim") is None:
    raise ConfigError(f"{path}: input_dim is missing (null)")
  return read(beta=values.get("beta", 1.0),
              reconstruction_loss=values.get("reconstruction_loss", "mse"),
              input_shape=values["input_dim"],
              latent_dim=values.get("latent_dim", 10))


def targets(event_shape, latent_dim):
  """Every way pythae writes a loss (weights to be solved)."""
  return [_convention(r, 1.0, event_shape, latent_dim)
          for r in RECONSTRUCTION_LOSSES]
