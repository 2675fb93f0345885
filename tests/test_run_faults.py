"""Faults around a run's files: unreadable checkpoints, full disks, two runs.

Injected faults and what must happen:
- the latest checkpoint's data file truncated, or overwritten with garbage:
  one warning line, resume from the newest readable checkpoint, finish with
  the uninterrupted run's weights;
- the `checkpoint` index emptied or overwritten with garbage: one warning
  line, the index rebuilt from the checkpoint files, resume from the
  newest, finish with the uninterrupted run's weights (TensorFlow alone
  would start again at step 0 and overwrite the first checkpoints);
- OSError (ENOSPC) while a checkpoint is written: one-line StorageError, the
  previous checkpoint still the latest and readable; OSError (EROFS) while
  exporting: one-line ExportError, existing versions unchanged, no temporary
  left; a real full disk on a small tmpfs where this machine may mount one;
- a second run on a logdir a live run holds: refused with one line naming
  the holder's pid; a lock left by a killed run is taken over;
- SIGKILL at 9 random moments of one run (set-up, steps, evaluation,
  checkpoint writing, export; at least two between checkpoints): the run,
  resumed each time, ends with the uninterrupted run's weights, and no
  export version is ever half-written (slow).
"""

import errno
import glob
import os
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT
from conftest import program_server
from conftest import run_script
from conftest import start_forked
from tfvae.cli import flags as cli
from tfvae.config import ExperimentConfig
from tfvae.errors import TfvaeError
from tfvae.export import layout
from tfvae.export import saved_model
from tfvae.runs import checkpoints
from tfvae.runs import lock as runlock
from tfvae.training import trainer

SMALL = dict(checkpoint_every=10, eval_every=20, hidden_units=16,
             latent_dim=3, seed=5, verbose=0)


def _config(logdir, steps, **overrides):
  return ExperimentConfig.from_flat(logdir=str(logdir), steps=steps, **SMALL,
                **overrides).validate()


def _weights(path):
  reader = tf.train.load_checkpoint(path)
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if "_trainable_variables" in k or k.startswith("model/")}


def _assert_same_weights(a, b):
  assert sorted(a) == sorted(b) and a
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """An uninterrupted 40-step run."""
  logdir = tmp_path_factory.mktemp("reference") / "run"
  trainer.train(_config(logdir, 40), print_fn=lambda *_: None)
  return _weights(str(logdir / "checkpoints" / "ckpt-40"))


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_unreadable_latest_checkpoint_resumes_from_the_newest_readable(
    tmp_path, reference, damage):
  logdir = tmp_path / "run"
  trainer.train(_config(logdir, 30), print_fn=lambda *_: None)
  data = glob.glob(str(logdir / "checkpoints" / "ckpt-30.data-*"))[0]
  if damage == "truncate":
    os.truncate(data, os.path.getsize(data) // 2)
  else:
    with open(data, "r+b") as f:
      f.write(b"\xff" * 64)
  printed = []
  final = trainer.train(_config(logdir, 40), print_fn=printed.append)
  warnings = [line for line in printed if line.startswith("warning:")]
  assert len(warnings) == 1 and "\n" not in warnings[0], printed
  assert re.search(r"ckpt-30 is unreadable \(.+\); set aside .* resuming "
                   r"from .*ckpt-20$", warnings[0]), warnings[0]
  assert any("(step 20)" in line for line in printed), printed
  assert final["step"] == 40
  assert glob.glob(str(logdir / "checkpoints" / "ckpt-30.*.unreadable"))
  _assert_same_weights(_weights(str(logdir / "checkpoints" / "ckpt-40")),
                       reference)


@pytest.mark.parametrize("damage", [b"", b"\x00garbage{{"])
def test_unreadable_checkpoint_index_is_rebuilt_from_the_files(
    tmp_path, reference, damage):
  logdir = tmp_path / "run"
  trainer.train(_config(logdir, 30), print_fn=lambda *_: None)
  index = logdir / "checkpoints" / "checkpoint"
  index.write_bytes(damage)
  printed = []
  final = trainer.train(_config(logdir, 40), print_fn=printed.append)
  warnings = [line for line in printed if line.startswith("warning:")]
  assert len(warnings) == 1 and "\n" not in warnings[0], printed
  assert re.search(r"checkpoint index .*checkpoint is unreadable; rebuilt "
                   r"from the checkpoints on disk \(.*ckpt-30\)$",
                   warnings[0]), warnings[0]
  assert any("(step 30)" in line for line in printed), printed
  assert final["step"] == 40
  _assert_same_weights(_weights(str(logdir / "checkpoints" / "ckpt-40")),
                       reference)
  assert tf.train.latest_checkpoint(str(logdir / "checkpoints")).endswith(
      "ckpt-40")


def _raise_enospc(*args, **kwargs):
  raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_while_checkpointing_is_one_line_and_keeps_the_last(
    tmp_path, monkeypatch):
  logdir = tmp_path / "run"
  trainer.train(_config(logdir, 20), print_fn=lambda *_: None)
  ckpt_dir = str(logdir / "checkpoints")
  latest = tf.train.latest_checkpoint(ckpt_dir)
  before = _weights(latest)
  monkeypatch.setattr(tf.train.CheckpointManager, "save", _raise_enospc)
  with pytest.raises(checkpoints.StorageError) as info:
    trainer.train(_config(logdir, 40), print_fn=lambda *_: None)
  message = str(info.value)
  assert "\n" not in message
  assert re.fullmatch(r"cannot write checkpoint 30 in .*checkpoints: No space "
                      r"left on device; the latest checkpoint is still "
                      r".*ckpt-20", message), message
  assert tf.train.latest_checkpoint(ckpt_dir) == latest
  assert checkpoints.unreadable_reason(latest) is None
  _assert_same_weights(_weights(latest), before)
  assert not os.path.exists(runlock.lock_path(str(logdir)))  # Released.


def test_read_only_export_target_is_one_line_and_keeps_versions(
    tmp_path, monkeypatch):
  config = ExperimentConfig.from_flat(latent_dim=2, hidden_units=8).validate()
  model = trainer.build_compiled_model(config, (8, 8, 1))
  base = str(tmp_path / "exports")
  first = saved_model.export(model, config, base)
  listing = sorted(os.listdir(base))
  real_save = tf.saved_model.save

  def failing_save(obj, path, **kwargs):
    real_save(obj, path, **kwargs)  # Half of the files are there...
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))  # ...then EROFS.

  monkeypatch.setattr(tf.saved_model, "save", failing_save)
  with pytest.raises(layout.ExportError) as info:
    saved_model.export(model, config, base)
  assert "\n" not in str(info.value)
  assert re.fullmatch(r"cannot write the export in .*exports: Read-only file "
                      r"system; existing versions are unchanged",
                      str(info.value)), str(info.value)
  assert sorted(os.listdir(base)) == listing  # No version, no temporary.
  assert os.path.exists(os.path.join(first, "saved_model.pb"))


def test_os_errors_reach_the_user_as_one_line(capsys):
  with pytest.raises(SystemExit) as info:
    cli.run_guarded("train.py", lambda: _raise_enospc())
  assert info.value.code == 1
  err = capsys.readouterr().err
  assert err == "train.py: error: No space left on device\n"


def _mount_tmpfs(path, size):
  os.makedirs(path, exist_ok=True)
  try:
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}",
                           "tmpfs", str(path)], capture_output=True,
                          timeout=10)
  except (OSError, subprocess.TimeoutExpired):
    return False
  return proc.returncode == 0


def test_a_really_full_disk_on_a_small_tmpfs(tmp_path):
  """Where this machine lets the test mount a 2 MB tmpfs (root), a real
  ENOSPC: the run stops with one line, non-zero, the last checkpoint good."""
  mount = tmp_path / "small"
  if not _mount_tmpfs(mount, "2m"):
    pytest.skip("cannot mount a tmpfs here")
  try:
    logdir = mount / "run"
    # ~0.5 MB per checkpoint (weights + Adam slots): the disk fills up in a
    # few saves whatever else is written.
    out = run_script("train.py", "--steps=400", "--checkpoint_every=10",
                     "--eval_every=50", "--hidden_units=128",
                     "--latent_dim=3", "--keep_checkpoints=10", "--verbose=0",
                     f"--logdir={logdir}", timeout=300)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode != 0, out.stdout[-2000:]
    assert len(lines) == 1, out.stderr[-3000:]
    assert re.match(r"train\.py: error: cannot write .*(No space left on "
                    r"device|[Rr]esource exhausted|space)", lines[0]), lines[0]
    latest = tf.train.latest_checkpoint(str(logdir / "checkpoints"))
    assert latest is not None
    assert checkpoints.unreadable_reason(latest) is None
  finally:
    subprocess.run(["umount", str(mount)], capture_output=True, timeout=30)


# ------------------------------------------------------------------- locks


def test_second_run_on_a_held_logdir_is_refused_naming_the_holder(tmp_path):
  logdir = str(tmp_path / "run")
  holder = runlock.RunLock(logdir).acquire()
  holder.write_holder()
  try:
    with pytest.raises(runlock.RunLockedError) as info:
      runlock.RunLock(logdir).acquire()
    assert f"pid {os.getpid()}" in str(info.value)
    with pytest.raises(runlock.RunLockedError):
      runlock.check_free(logdir)
    # The CLI: one line, exit 2, nothing written, before TensorFlow starts.
    out = run_script("train.py", "--steps=10", "--verbose=0",
                     f"--logdir={logdir}")
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert re.fullmatch(rf"train\.py: error: .* is in use by another run "
                        rf"\(pid {os.getpid()} on host .*\); wait for it to "
                        r"end or use another --logdir", lines[0]), lines[0]
    assert sorted(os.listdir(logdir)) == [".lock"]
  finally:
    holder.release()
  assert not os.path.exists(logdir)  # The lock made it; nothing else there.


def test_lock_left_by_a_killed_run_is_taken_over(tmp_path):
  logdir = tmp_path / "run"
  # A process that takes the lock and dies by SIGKILL, leaving the file.
  code = ("import sys, time; sys.path.insert(0, sys.argv[1]);"
          "from tfvae.runs import lock as runlock;"
          "runlock.RunLock(sys.argv[2]).acquire().write_holder();"
          "print('held', flush=True);"
          "time.sleep(60)")
  proc = subprocess.Popen([sys.executable, "-c", code, ROOT, str(logdir)],
                          stdout=subprocess.PIPE, text=True)
  assert proc.stdout.readline().strip() == "held"
  with pytest.raises(runlock.RunLockedError, match=f"pid {proc.pid} "):
    runlock.RunLock(str(logdir)).acquire()
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  proc.stdout.close()
  assert runlock.read_holder(str(logdir))["pid"] == proc.pid  # Left behind.
  lock = runlock.RunLock(str(logdir)).acquire()
  lock.write_holder()
  assert runlock.read_holder(str(logdir))["pid"] == os.getpid()
  lock.release()


# ------------------------------------------------------- kill -9 anywhere


KILL_STEPS, KILL_CHECKPOINT_EVERY = 200, 10
KILL_FLAGS = [f"--steps={KILL_STEPS}",
              f"--checkpoint_every={KILL_CHECKPOINT_EVERY}", "--eval_every=50",
              "--hidden_units=16", "--latent_dim=3", "--seed=5",
              "--verbose=0", "--image_every=50"]
# Where each kill lands, in turn: "train" a random moment after the attempt's
# first new checkpoint (steps, evaluations, checkpoint writing), "set-up"
# before the first checkpoint the uninterrupted run wrote (flags, data,
# restore, tracing), "late" anywhere after it, "end" after the last
# checkpoint (the final evaluation, export). The first two "train" kills
# leave the run at two different steps between checkpoints.
KILL_PHASES = ("train", "set-up", "train", "late") * 2 + ("end",)


def _latest_step(logdir):
  latest = tf.train.latest_checkpoint(str(logdir / "checkpoints"))
  return int(latest.rsplit("-", 1)[1]) if latest else 0


def _newest_index(logdir):
  steps = [int(p.rsplit("-", 1)[1][:-len(".index")]) for p in glob.glob(
      str(logdir / "checkpoints" / "ckpt-*.index"))]
  return max(steps, default=0)


def _wait_for_checkpoint(child, logdir, after, timeout=300):
  """Waits until the run has written a checkpoint past step `after` (or its
  process has ended); returns the seconds waited."""
  started = time.monotonic()
  while child.exitcode is None and _newest_index(logdir) <= after:
    assert time.monotonic() - started < timeout
    time.sleep(0.01)
  return time.monotonic() - started


def _complete_versions(export_dir):
  if not os.path.isdir(export_dir):
    return []
  versions = [d for d in os.listdir(export_dir) if d.isdigit()]
  for version in versions:
    assert os.path.exists(os.path.join(export_dir, version, "saved_model.pb"))
    assert os.path.isdir(os.path.join(export_dir, version, "variables"))
  return versions


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_gives_the_same_weights(
    tmp_path):
  ref_dir, logdir = tmp_path / "reference", tmp_path / "run"
  export_dir = str(tmp_path / "exports")
  # The runs are forked from a server that has imported the program (its
  # first process pays the imports), so the kills land in the run itself:
  # flags, data, restore, steps, evaluations, checkpoints, export. The
  # moments are drawn over the uninterrupted run's duration, as timed here.
  context = program_server()
  start_forked(context, "train.py", ["--helpshort"], ROOT, os.devnull,
               os.devnull).join(300)
  child = start_forked(context, "train.py", [
      *KILL_FLAGS, f"--logdir={ref_dir}",
      f"--export_dir={tmp_path / 'reference_exports'}"], ROOT, os.devnull,
                       str(tmp_path / "reference.stderr"))
  set_up = _wait_for_checkpoint(child, ref_dir, 0)
  started = time.monotonic() - set_up
  last_checkpoint = set_up + _wait_for_checkpoint(child, ref_dir,
                                                  KILL_STEPS - 1)
  child.join(300)
  duration = time.monotonic() - started
  assert child.exitcode == 0, (tmp_path / "reference.stderr").read_text()
  reference = _weights(str(ref_dir / "checkpoints" / f"ckpt-{KILL_STEPS}"))
  between_checkpoints = ((duration - set_up) * KILL_CHECKPOINT_EVERY /
                         KILL_STEPS)
  args = [*KILL_FLAGS, f"--logdir={logdir}", f"--export_dir={export_dir}"]
  rng = random.Random(20261203)
  outcomes = []
  for kill, phase in enumerate(KILL_PHASES):
    err_path = tmp_path / f"kill_{kill}.stderr"
    step = _latest_step(logdir)
    child = start_forked(context, "train.py", args, ROOT, os.devnull,
                         str(err_path))
    if phase == "train":
      _wait_for_checkpoint(child, logdir, step)
      child.join(rng.uniform(0.0, between_checkpoints))
    elif phase == "set-up":
      child.join(rng.uniform(0.0, set_up))
    elif phase == "end":
      _wait_for_checkpoint(child, logdir, KILL_STEPS - 1)
      child.join(rng.uniform(0.0, duration - last_checkpoint))
    else:
      child.join(rng.uniform(set_up, duration))
    if child.exitcode is None:
      child.kill()
      child.join()
    if child.exitcode != 0:
      assert child.exitcode == -signal.SIGKILL, err_path.read_text()[-3000:]
    outcomes.append((phase, child.exitcode, _latest_step(logdir)))
    _complete_versions(export_dir)  # Never a half-written version.
  mid_run = {step for _, code, step in outcomes
             if code != 0 and 0 < step < KILL_STEPS}
  assert len(mid_run) >= 2, outcomes
  # A fresh interpreter finishes the run.
  out = run_script("train.py", *KILL_FLAGS, f"--logdir={logdir}",
                   f"--export_dir={export_dir}")
  assert out.returncode == 0, out.stderr
  _assert_same_weights(
      _weights(str(logdir / "checkpoints" / f"ckpt-{KILL_STEPS}")), reference)
  assert _complete_versions(export_dir)
  assert not glob.glob(os.path.join(export_dir, ".*"))  # No temporaries.
  assert not os.path.exists(runlock.lock_path(str(logdir)))


def test_tfvae_errors_are_one_line():
  assert issubclass(checkpoints.StorageError, TfvaeError)
  assert issubclass(runlock.RunLockedError, TfvaeError)
