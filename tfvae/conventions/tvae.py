"""CTGAN / SDV's TVAE (sdv-dev/CTGAN `ctgan/synthesizers/tvae.py`, CTGAN 0.10).

Its loss over a batch of N rows (`_loss_function`, references §14):

    loss = loss_factor * [sum_gaussian NLL + sum_one-hot CE] / N + KL_sum / N

a summed reconstruction over the table's columns and a summed KL, both
averaged over the batch, with `loss_factor` (default 2) on the
reconstruction: the ELBO with beta_eff = 1 / loss_factor, so TVAE's default
is beta_eff = 0.5. Continuous columns are Gaussians with one learned sigma
per column (init 0.1, clamped to [0.01, 1]); discrete columns are
categoricals: tfvae's `columns` likelihood (`--likelihood=columns`).

What does not carry over: TVAE first transforms each continuous column by
mode-specific normalisation (a tanh scalar and a one-hot mode of a Bayesian
Gaussian mixture, up to 10 modes), so its reconstruction has more terms than
a Gaussian on the raw column; beta_eff is the same statement about the
weighting, the NLL's value in nats is not. Users ask what `loss_factor` does
(SDV issues 2094, 2196): it is 1 / beta_eff. Its loss goes negative
(CTGAN issue 212) because a Gaussian NLL with sigma < 1/sqrt(2 pi) is.
"""

from tfvae.conventions import _common
from tfvae.conventions.convention import Convention
from tfvae.errors import ConfigError

PEER = "tvae"
VERSION = "CTGAN / SDV TVAE (sdv-dev/CTGAN 0.10)"
SOURCE = "ctgan/synthesizers/tvae.py"
DEFAULT_LOSS_FACTOR = 2.0
DEFAULT_EMBEDDING_DIM = 128


def read(loss_factor=DEFAULT_LOSS_FACTOR, input_shape=None,
         latent_dim=DEFAULT_EMBEDDING_DIM, columns=None):
  """TVAE's weighting.

  Args:
    loss_factor: TVAE's `loss_factor` (2 by default).
    input_shape: the number of the table's columns D (one value per column,
      as tfvae's `columns` likelihood reads a row).
    latent_dim: TVAE's `embedding_dim` (128 by default).
    columns: optional tfvae column spec ("gaussian:4,categorical:3", ...)
      carried into the tfvae flags.
  """
  if isinstance(input_shape, int) and not isinstance(input_shape, bool):
    input_shape = (input_shape,)  # A table's number of columns.
  shape = _common.required("input_shape", _common.parse_shape(input_shape),
                           PEER)
  factor = _common.number("loss_factor", loss_factor)
  if not factor:
    raise ConfigError("loss_factor must be > 0")
  settings = (("columns", str(columns)),) if columns else ()
  return Convention(
      "nll", shape, int(latent_dim), weight=1.0, factor=factor,
      likelihood="columns", likelihood_settings=settings, name=PEER,
      label=f"TVAE (loss_factor={factor:g})",
      formula="loss_factor * (sum NLL_columns) + KL_sum, batch mean",
      weight_name="KL weight",
      notes=("TVAE models continuous columns after mode-specific "
             "normalisation (a tanh scalar + a one-hot mode): the weighting "
             "carries over, the NLL's value does not",
             "TVAE's learned sigma per column starts at 0.1, clamped to "
             "[0.01, 1]"))


def targets(event_shape, latent_dim):
  """None: TVAE's only knob is `loss_factor` = 1 / beta_eff, on its own
  column transform; read TVAE's convention instead of writing it."""
  del event_shape, latent_dim
  return []
