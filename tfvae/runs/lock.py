"""One live run per run directory, refused with a line naming the holder.

A run holds an exclusive `flock` on its run directory for as long as it runs,
and once it goes ahead names itself (pid, host, start time, JSON) in
`<logdir>/.lock`. The kernel drops a `flock` when the process ends, however
it ends (SIGKILL, a crash), so the `.lock` a dead run leaves behind is stale
by construction and the next run takes over; no pid guessing. A second run on
a held directory is refused with one line naming the holder. Taking the lock
writes nothing in an existing directory, so a run refused afterwards (a
checkpoint of another architecture, say) leaves it untouched. (`flock` is
advisory and local: runs on different hosts sharing a logdir over NFS are
not guaranteed to see each other's lock.)

`acquire(logdir)` takes the lock for the calling process, `announce(logdir)`
names it; `releases_locks` wraps a function so that every lock it took is
released when it returns or raises (the trainer: a library caller can train
twice in one process).
"""

import fcntl
import functools
import json
import os
import socket
import time

from tfvae.errors import RunLockedError

LOCK_FILE = ".lock"

# abs logdir -> RunLock held by this process.
_HELD = {}


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
  """An exclusive `flock` on the run directory; the holder named in `.lock`."""

  def __init__(self, logdir):
    self.logdir = os.path.abspath(logdir)
    self._fd = None
    self._created_dir = False
    self._wrote_holder = False

  @property
  def held(self):
    return self._fd is not None

  def acquire(self):
    """Takes the lock, or raises RunLockedError naming the live holder.

    Writes nothing in an existing directory: a run refused later (say, for a
    checkpoint of another architecture) leaves it exactly as it was.
    """
    if not os.path.isdir(self.logdir):
      os.makedirs(self.logdir)
      self._created_dir = True
    fd = os.open(self.logdir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      os.close(fd)
      self._remove_created_dir()
      raise _locked(self.logdir, read_holder(self.logdir)) from None
    self._fd = fd
    return self

  def write_holder(self):
    """Names this process in `<logdir>/.lock` (once the run goes ahead)."""
    if self._fd is None or self._wrote_holder:
      return
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path = lock_path(self.logdir)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
      f.write(json.dumps(me) + "\n")
    os.replace(tmp, path)  # A reader sees the old holder or the new one.
    self._wrote_holder = True

  def release(self):
    """Removes `.lock` and drops the lock (idempotent)."""
    if self._fd is None:
      return
    if self._wrote_holder:
      try:
        os.remove(lock_path(self.logdir))
      except FileNotFoundError:
        pass
      self._wrote_holder = False
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
  try:
    fd = os.open(logdir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
  except OSError:
    return  # No logdir (or not a directory: refused elsewhere): free.
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
  except BlockingIOError:
    raise _locked(logdir, read_holder(logdir)) from None
  finally:
    os.close(fd)


def acquire(logdir):
  """Locks `logdir` for this process (again: a no-op); returns the lock.

  Call `announce(logdir)` once the run goes ahead, to name the holder.
  """
  key = os.path.abspath(logdir)
  if key in _HELD and _HELD[key].held:
    return _HELD[key]
  lock = RunLock(key).acquire()
  _HELD[key] = lock
  return lock


def announce(logdir):
  """Writes this process into the lock file of a logdir it holds."""
  lock = _HELD.get(os.path.abspath(logdir))
  if lock is not None:
    lock.write_holder()


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
