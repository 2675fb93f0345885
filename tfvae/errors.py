"""User-facing errors.

Every problem caused by the user's input (arguments, files, data) is raised as
a `TfvaeError`; the command-line programs print its message as one line and
exit with status 2. Library code never prints or exits itself.

A message names the parameters it is about by their plain names (`beta_norm
must be >= 0 ...`) and lists them in `params`; the command line
(`tfvae.cli.flags.flag_message`) turns those names into their `--flags`.
"""


class TfvaeError(Exception):
  """A problem with the user's input, reported as one clear line.

  Attributes:
    params: names of the parameters the message is about (config field
      names, which are also the command line's flag names).
  """

  def __init__(self, message="", *, params=()):
    super().__init__(message)
    self.params = tuple(params)


class ConfigError(TfvaeError, ValueError):
  """Invalid or conflicting configuration values."""


class DataError(TfvaeError, ValueError):
  """Missing, empty, malformed or out-of-support data (also a ValueError,
  what Keras users expect of bad data)."""


class NonFiniteLossError(TfvaeError):
  """Training produced a NaN or infinite loss."""


class CheckpointError(TfvaeError):
  """A checkpoint that cannot be restored into this model."""


class StorageError(TfvaeError):
  """A run's file could not be written (disk full, read-only, permissions)."""


class RunLockedError(TfvaeError):
  """Another live process holds the run directory."""


class ExportError(TfvaeError):
  """An export target that cannot be used."""
