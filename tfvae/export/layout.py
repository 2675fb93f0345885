"""TF Serving's versioned directory layout, and atomic publication into it.

    <export_base>/            the model's base path (TF Serving's
                              --model_base_path)
      1/ 2/ ...               one complete SavedModel per integer version
      .tmp-export-<pid>-<r>/  an export in progress (hidden; not a version)

A version directory appears in one `os.rename` of a fully written and flushed
temporary directory beside it, so it is either complete or absent, also when
the exporter is killed. Existing versions are never modified. This module
needs no TensorFlow, so a bad `export_dir` fails before TensorFlow loads.
"""

import os
import re
import secrets
import shutil

from tfvae.errors import ExportError
from tfvae.runs.versions import next_version

TMP_PREFIX = ".tmp-export-"
_TMP_PATTERN = re.compile(re.escape(TMP_PREFIX) + r"(\d+)-[0-9a-f]+$")
_MAX_RENAME_ATTEMPTS = 100
PARAM = ("export_dir",)


def check_export_base(export_base):
  """Raises ExportError when `export_base` cannot hold versioned exports.

  Only reads the file system.
  """
  if not export_base:
    raise ExportError("export_dir must not be empty", params=PARAM)
  path = os.path.abspath(export_base)
  if os.path.exists(path) and not os.path.isdir(path):
    raise ExportError(f"export_dir {export_base} exists and is not a "
                      "directory", params=PARAM)
  if os.path.exists(os.path.join(path, "saved_model.pb")):
    raise ExportError(
        f"export_dir {export_base} is itself a SavedModel; give the model's "
        f"base directory (versions go to {os.path.dirname(path)}/<version>)",
        params=PARAM)
  ancestor = path
  while not os.path.exists(ancestor):
    ancestor = os.path.dirname(ancestor)
  if not os.path.isdir(ancestor):
    raise ExportError(f"export_dir {export_base}: {ancestor} is not a "
                      "directory", params=PARAM)
  if not os.access(ancestor, os.W_OK | os.X_OK):
    raise ExportError(f"export_dir {export_base}: {ancestor} is not "
                      "writable", params=PARAM)


def _pid_alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def remove_stale_temporaries(export_base):
  """Removes temporary directories of exporters that no longer run."""
  if not os.path.isdir(export_base):
    return []
  removed = []
  for name in sorted(os.listdir(export_base)):
    match = _TMP_PATTERN.match(name)
    if match and not _pid_alive(int(match.group(1))):
      shutil.rmtree(os.path.join(export_base, name), ignore_errors=True)
      removed.append(name)
  return removed


def new_temporary(export_base):
  """Path of a fresh (not yet created) temporary directory in export_base."""
  return os.path.join(export_base,
                      f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}")


def fsync_tree(root):
  """Flushes every file and directory under root to disk."""
  for directory, _, files in os.walk(root):
    for name in files:
      fd = os.open(os.path.join(directory, name), os.O_RDONLY)
      try:
        os.fsync(fd)
      finally:
        os.close(fd)
    fsync_dir(directory)


def fsync_dir(directory):
  fd = os.open(directory, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def publish(tmp, export_base):
  """Renames the finished `tmp` to the next free version; returns its path.

  Two exporters racing for the same number cannot clobber each other: a
  rename onto an existing, non-empty version fails and the next number is
  tried.
  """
  fsync_tree(tmp)
  version = next_version(export_base)
  for _ in range(_MAX_RENAME_ATTEMPTS):
    target = os.path.join(export_base, str(version))
    if not os.path.exists(target):
      try:
        os.rename(tmp, target)
      except OSError:
        version = max(version + 1, next_version(export_base))
        continue
      fsync_dir(export_base)
      return target
    version = max(version + 1, next_version(export_base))
  raise ExportError(f"could not claim a version directory in {export_base}")
