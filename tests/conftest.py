"""Test set-up: quiet TensorFlow, make the repo importable, share small helpers."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

import pytest  # pylint: disable=wrong-import-position


@pytest.fixture(scope="session")
def repo_root():
  return ROOT


def run_script(script, *args, timeout=600, env=None, cwd=None):
  """Runs `python scripts/<script> args...`; returns the CompletedProcess."""
  import subprocess  # pylint: disable=import-outside-toplevel
  full_env = dict(os.environ)
  # The scripts import the checkout's tfvae also when it is not installed.
  full_env["PYTHONPATH"] = os.pathsep.join(
      p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
  full_env.update(env or {})
  return subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", script), *args],
      capture_output=True, text=True, timeout=timeout, env=full_env,
      cwd=cwd or ROOT)


# The scripts' programs: `scripts/<script>` imports `<module>` and calls its
# `<function>()`.
PROGRAMS = {"train.py": ("tfvae.cli.train", "run"),
            "export.py": ("tfvae.cli.export", "run"),
            "evaluate.py": ("tfvae.cli.evaluate", "run"),
            "weighting.py": ("tfvae.cli.weighting", "main"),
            "sweep.py": ("tfvae.cli.sweep", "run")}
_SERVERS = []


def program_server():
  """A multiprocessing context whose processes fork from a server that has
  imported the scripts' programs once (multiprocessing's forkserver; one
  server per test process)."""
  import multiprocessing  # pylint: disable=import-outside-toplevel
  if not _SERVERS:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(sorted(m for m, _ in PROGRAMS.values()))
    _SERVERS.append(context)
  return _SERVERS[0]


def _program(script, argv, cwd, out_path, err_path, env):
  """In a forked child: runs a program as its script does after the imports
  (its exit status becomes the child's)."""
  import importlib  # pylint: disable=import-outside-toplevel
  os.chdir(cwd)
  os.environ.update(env or {})
  for fd, path in ((1, out_path), (2, err_path)):
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(target, fd)
    os.close(target)
  sys.argv = argv
  module, function = PROGRAMS[script]
  getattr(importlib.import_module(module), function)()


def start_forked(context, script, args, cwd, out_path, err_path, env=None):
  """Starts `python scripts/<script> args...` as a process forked from
  `program_server()`'s server: the same program, flags, checks and exit
  status, without ~8 CPU seconds of imports (so without what TensorFlow
  prints while it loads, and with `env` applied only to what is read after
  the imports). Returns the started Process; its stdout and stderr go to
  the two paths."""
  child = context.Process(target=_program, args=(
      script, [os.path.join(ROOT, "scripts", script), *args], cwd, out_path,
      err_path, env))
  child.start()
  return child


def run_forked(script, *args, timeout=600, env=None, cwd=None):
  """`run_script` for tests of what a program does, not of how a fresh
  interpreter starts it: the program runs in a process forked from
  `program_server()`'s server. Returns a CompletedProcess."""
  import subprocess  # pylint: disable=import-outside-toplevel
  import tempfile  # pylint: disable=import-outside-toplevel
  with tempfile.TemporaryDirectory() as logs:
    out_path = os.path.join(logs, "stdout")
    err_path = os.path.join(logs, "stderr")
    child = start_forked(program_server(), script, args, cwd or ROOT,
                         out_path, err_path, env)
    child.join(timeout)
    if child.exitcode is None:
      child.kill()
      child.join()
      raise subprocess.TimeoutExpired(script, timeout)
    with open(out_path) as out, open(err_path) as err:
      return subprocess.CompletedProcess([script, *args], child.exitcode,
                                         out.read(), err.read())


# Tests of more than a few seconds each (trainings in subprocesses, several
# processes or devices, long runs): `pytest -m "not slow"` leaves them out.
# Listed here rather than decorated so the fast subset is one reviewable list.
SLOW = (
    "tests/test_distribute.py::test_mirrored_step_equals_one_device",
    "tests/test_distribute.py::test_xla_gives_the_same_loss",
    "tests/test_distribute.py::test_multi_worker_agrees_with_one_device",
    "tests/test_distribute.py::test_mixed_bfloat16_keeps_likelihood_math",
    "tests/test_sweep.py::test_small_beta_sweep_end_to_end",
    "tests/test_export.py::",
    "tests/test_sentence_cli.py::test_export_serves_without_tfvae_and_with_saved_model_cli",
    "tests/test_sentence_cli.py::test_flagfile_trains_reports_perplexity_and_exports",
    "tests/test_serving_loader.py::",
    "tests/test_balancing_training.py::test_geco_reaches_its_target",
    "tests/test_balancing_training.py::test_resumed_run_logs_the_same_state",
    "tests/test_balancing_training.py::test_schedule_flags_log_their",
    "tests/test_resume.py::test_sigkill_then_restart",
    "tests/test_faults.py::",
    "tests/test_execution.py::test_ten_steps_per_call",
    "tests/test_execution.py::test_log_every_thins",
    "tests/test_group.py::test_grouped_runs_equal_runs_trained_alone",
    "tests/test_group.py::test_group_process_trains_and_evaluates_its_points",
    "tests/test_readme.py::test_readme_train_command",
    "tests/test_cli.py::test_train_script_reference_bce_end_to_end",
    "tests/test_cli.py::test_question_mean_mean_preset",
    "tests/test_examples.py::test_tabular_example",
    "tests/test_evaluation.py::test_evaluate_script_writes",
    "tests/test_evaluation.py::test_tiny_dsprites_run",
    "tests/test_run_faults.py::test_a_really_full_disk",
    "tests/test_api.py::test_fit_learns_real_valued",
    "tests/test_api.py::test_python_model_exports",
    "tests/test_any_shape_runs.py::",
    "tests/test_numbers_unchanged.py::",
    "tests/test_family_runs.py::",
    "tests/test_kl_parts_training.py::",
    "tests/test_rerun.py::",
)


def pytest_collection_modifyitems(config, items):
  del config
  for item in items:
    if item.nodeid.startswith(SLOW):
      item.add_marker(pytest.mark.slow)
