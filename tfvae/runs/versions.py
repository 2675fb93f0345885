"""Integer version directories (TF Serving's layout) and how to find them.

    <base>/1/ <base>/2/ ...   one complete SavedModel per version

No TensorFlow: the layout is read from the file system only.
"""

import os

from tfvae.errors import ConfigError

SAVED_MODEL_FILE = "saved_model.pb"


def existing_versions(base):
  """Sorted integer versions present under `base` (directories only)."""
  if not os.path.isdir(base):
    return []
  return sorted(int(name) for name in os.listdir(base)
                if name.isdigit() and os.path.isdir(os.path.join(base, name)))


def next_version(base):
  versions = existing_versions(base)
  return versions[-1] + 1 if versions else 1


def is_saved_model(path):
  return os.path.isfile(os.path.join(path, SAVED_MODEL_FILE))


def resolve_saved_model(path):
  """A SavedModel version directory: `path` itself or its latest version."""
  if is_saved_model(path):
    return path
  versions = [v for v in existing_versions(path)
              if is_saved_model(os.path.join(path, str(v)))]
  if versions:
    return os.path.join(path, str(versions[-1]))
  raise ConfigError(f"saved_model {path}: no {SAVED_MODEL_FILE} in it or in "
                    "a numbered version directory under it",
                    params=("saved_model",))
