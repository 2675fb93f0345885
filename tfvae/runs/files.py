"""Atomic file writes and tolerant JSON reads: the only code that does either.

A file written here appears in one `os.replace` of a complete, flushed
temporary file beside it, so a reader (or a crash) never sees half of it.
"""

import contextlib
import json
import math
import os
import tempfile

import numpy as np

from tfvae.errors import ConfigError


@contextlib.contextmanager
def atomic_path(path, suffix=""):
  """Yields a temporary path beside `path`; renames it to `path` on success.

  The caller writes the temporary file by any means (a TFRecord writer, a
  plot); it is removed when the block raises.
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix)
  os.close(fd)
  try:
    yield tmp
    with open(tmp, "rb+") as f:
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def atomic_write_text(path, text, newline=None):
  """Writes `text` to `path` atomically."""
  with atomic_path(path) as tmp:
    with open(tmp, "w", newline=newline) as f:
      f.write(text)


def json_safe(value):
  """`value` with NumPy scalars as Python numbers and non-finite floats None."""
  if isinstance(value, dict):
    return {k: json_safe(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [json_safe(v) for v in value]
  if isinstance(value, (np.floating, float)):
    value = float(value)
    return value if math.isfinite(value) else None
  if isinstance(value, np.integer):
    return int(value)
  return value


def write_json(path, values):
  """Writes `values` as indented, key-sorted JSON, atomically."""
  atomic_write_text(path, json.dumps(json_safe(values), indent=2,
                                     sort_keys=True) + "\n")


def read_json(path):
  """The JSON value in `path`; OSError or ValueError as `open`/`json` raise."""
  with open(path) as f:
    return json.load(f)


def read_json_or_none(path):
  """The JSON value in `path`, or None when it is missing or unreadable."""
  try:
    return read_json(path)
  except (OSError, ValueError):
    return None


def read_json_or_fail(path, what):
  """The JSON value in `path`; ConfigError "`path`: cannot read `what` (...)"."""
  try:
    return read_json(path)
  except (OSError, ValueError) as e:
    raise ConfigError(f"{path}: cannot read {what} ({e})") from None
