"""User-facing errors.

Every problem caused by the user's input (flags, files, data) is raised as a
`TfvaeError`; the command-line scripts print its message as one line and exit
with status 2. Library code never prints or exits itself.
"""


class TfvaeError(Exception):
  """A problem with the user's input, reported as one clear line."""


class ConfigError(TfvaeError):
  """Invalid or conflicting configuration values."""


class DataError(TfvaeError):
  """Missing, empty, malformed or out-of-support data."""
