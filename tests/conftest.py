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
