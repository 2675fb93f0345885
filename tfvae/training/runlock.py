"""One live run per run directory: a lock file naming its holder.

`<logdir>/.lock` holds the holder's pid, host and start time as JSON, and the
holder keeps an exclusive `flock` on it for as long as it runs. The kernel
drops the `flock` when the process ends, however it ends (SIGKILL, a crash, a
power cut of a local disk), so a lock left by a dead process is stale by
construction and the next run takes it over; no pid guessing. A second run
on a held directory is refused with one line naming the holder. (`flock` is
advisory and local: runs on different hosts sharing a logdir over NFS are not
guaranteed to see each other's lock.)

`acquire(logdir)` takes the lock for the calling process; `releases_locks`
wraps a function so that every lock it took is released when it returns or
raises (the trainer: a library caller can train twice in one process).
"""

import fcntl
import functools
import json
import os
import socket
import time

from tfvae.errors import TfvaeError

LOCK_FILE = ".lock"

# abs logdir -> RunLock held by this process.
_HELD = {}


class RunLockedError(TfvaeError):
  """Another live process holds the run directory."""


def lock_path(logdir):
  return os.path.join(logdir, LOCK_FILE)


def read_holder(logdir):
  """The lock file's JSON dict ({} when empty or unreadable), None if none."""
  try:
    with open(lock_path(logdir)) as f:
      text = f.read()
  except FileNotFoundError:
    return None
  except OSError:
    return {}
  try:
    holder = json.loads(text)
  except ValueError:
    return {}
  return holder if isinstance(holder, dict) else {}


def _same_file(fd, path):
  try:
    return os.path.samestat(os.fstat(fd), os.stat(path))
  except FileNotFoundError:
    return False


def _locked(logdir, holder):
  return RunLockedError(
      f"{os.path.abspath(logdir)} is in use by another run "
      f"({describe(holder)}); wait for it to end or use another --logdir")


def describe(holder):
  if not holder:
    return "a process that is starting"
  return (f"pid {holder.get('pid')} on host {holder.get('host')} since "
          f"{holder.get('started', '?')}")


class RunLock:
  """An exclusive `flock` on `<logdir>/.lock`, with the holder written in it."""

  def __init__(self, logdir):
    self.logdir = os.path.abspath(logdir)
    self._fd = None
    self._created_dir = False

  @property
  def held(self):
    return self._fd is not None

  def acquire(self):
    """Takes the lock, or raises RunLockedError naming the live holder."""
    if not os.path.isdir(self.logdir):
      os.makedirs(self.logdir)
      self._created_dir = True
    path = lock_path(self.logdir)
    while True:
      fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        os.close(fd)
        holder = read_holder(self.logdir)
        self._remove_created_dir()
        raise _locked(self.logdir, holder) from None
      if _same_file(fd, path):
        break
      os.close(fd)  # Locked a file its holder had just removed: retry.
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    os.ftruncate(fd, 0)
    os.write(fd, (json.dumps(me) + "\n").encode())
    self._fd = fd
    return self

  def release(self):
    """Removes the lock file and drops the lock (idempotent)."""
    if self._fd is None:
      return
    try:
      os.remove(lock_path(self.logdir))
    except FileNotFoundError:
      pass
    os.close(self._fd)  # Drops the flock.
    self._fd = None
    self._remove_created_dir()

  def _remove_created_dir(self):
    """A run refused before it wrote anything leaves no directory behind."""
    if self._created_dir:
      try:
        os.rmdir(self.logdir)  # Only when empty.
      except OSError:
        pass
      self._created_dir = False

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()
    return False


def check_free(logdir):
  """Raises RunLockedError when a live run holds `logdir`; writes nothing."""
  path = lock_path(logdir)
  try:
    fd = os.open(path, os.O_RDONLY)
  except OSError:
    return  # No lock file (or no logdir): free.
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
  except BlockingIOError:
    raise _locked(logdir, read_holder(logdir)) from None
  finally:
    os.close(fd)


def acquire(logdir):
  """Locks `logdir` for this process (again: a no-op); returns the lock."""
  key = os.path.abspath(logdir)
  if key in _HELD and _HELD[key].held:
    return _HELD[key]
  lock = RunLock(key).acquire()
  _HELD[key] = lock
  return lock


def releases_locks(fn):
  """Decorator: the locks `fn` acquired are released when it ends."""
  @functools.wraps(fn)
  def wrapper(*args, **kwargs):
    before = set(_HELD)
    try:
      return fn(*args, **kwargs)
    finally:
      for key in set(_HELD) - before:
        _HELD.pop(key).release()
  return wrapper
