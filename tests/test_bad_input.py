"""Bad input to the scripts: one clear line on stderr, exit 2, nothing changed.

Covers scripts/train.py, scripts/export.py and scripts/evaluate.py.

Each case runs a script in its own copy of a workspace (a finished run, a run
dir holding another architecture's checkpoints, a SavedModel, malformed npz
files, flagfiles) and checks the exit status, that stderr is exactly one line
matching the case's pattern, and that no file or directory of the workspace
was created, removed or modified (paths, sizes, mtimes, contents). The cases
run two at a time.

The cases of REAL_PROCESS_CASES (a flag error, the errors found once the
runtime is up, and each script) run as `python scripts/<script>`, so what
TensorFlow prints while it loads and starts is checked too. The others run
the same program in a process forked from a server that has imported the
three programs once (multiprocessing's forkserver): the program, its flags,
checks and exit are the same, without ~8 CPU seconds of imports per case.
FAST_CASES (each kind of mistake, each script) is the `-m "not slow"`
subset.
"""

import concurrent.futures
import hashlib
import os
import shutil

import numpy as np
import pytest

from conftest import program_server
from conftest import run_forked
from conftest import run_script

RUN_A = ["--hidden_units=16", "--latent_dim=2", "--steps=4", "--eval_every=4",
         "--checkpoint_every=2", "--verbose=0"]

# (id, script, arguments with {ws} for the workspace, pattern after "error: ")
CASES = [
    # Flags and flagfiles.
    ("unknown_flag", "train.py", ["--no_such_flag=1"],
     r"Unknown command line flag 'no_such_flag'"),
    ("malformed_int", "train.py", ["--steps=ten"],
     r"flag --steps=ten: invalid literal for int"),
    ("malformed_float", "train.py", ["--learning_rate=fast"],
     r"flag --learning_rate=fast: could not convert"),
    ("malformed_bool", "train.py", ["--overwrite=maybe"],
     r"flag --overwrite=maybe: .*Non-boolean"),
    ("missing_flagfile", "train.py", ["--flagfile={ws}/none.flags"],
     r"[Uu]nable to open flagfile.*none\.flags"),
    ("flagfile_unknown_flag", "train.py", ["--flagfile={ws}/bad.flags"],
     r"Unknown command line flag 'not_a_flag'"),
    ("positional_argument", "train.py", ["extra"],
     r"unexpected arguments: extra"),
    # Values and conflicts.
    ("unknown_likelihood", "train.py", ["--likelihood=poisson"],
     r"--likelihood='poisson' is not one of"),
    ("negative_beta", "train.py", ["--beta=-1"], r"--beta must be >= 0"),
    ("beta_and_beta_norm", "train.py", ["--beta=1", "--beta_norm=0.1"],
     r"--beta and --beta_norm are mutually exclusive"),
    ("latent_dim_zero", "train.py", ["--latent_dim=0"],
     r"--latent_dim must be an integer >= 1"),
    ("steps_and_epochs", "train.py", ["--steps=5", "--epochs=1"],
     r"--steps and --epochs are mutually exclusive"),
    ("zero_learning_rate", "train.py", ["--learning_rate=0"],
     r"--learning_rate must be positive"),
    ("negative_sigma", "train.py", ["--sigma=-1"],
     r"--sigma must be positive"),
    ("validation_fraction_one", "train.py", ["--validation_fraction=1"],
     r"--validation_fraction must be in \[0, 1\)"),
    ("schedule_without_warmup", "train.py", ["--kl_schedule=linear"],
     r"--kl_schedule=linear needs --kl_warmup_steps > 0"),
    ("geco_without_target", "train.py", ["--balancer=geco"],
     r"--balancer=geco needs .*--geco_target"),
    ("reference_with_beta", "train.py", ["--model=reference", "--beta=2"],
     r"--model=reference has no KL weight"),
    # A flag the run would ignore, with the flag that would use it.
    ("ignored_geco_flag", "train.py", ["--geco_target=0.2"],
     r"--geco_target is ignored unless --balancer=geco; drop it"),
    ("ignored_sigma_of_bernoulli", "train.py",
     ["--likelihood=bernoulli", "--sigma=0.3"],
     r"--sigma is ignored unless --likelihood=gaussian"),
    ("ignored_hidden_units_of_conv", "train.py",
     ["--architecture=conv", "--hidden_units=32"],
     r"--hidden_units is ignored unless --architecture=mlp"),
    # Data.
    ("unknown_dataset", "train.py", ["--dataset=mnist"],
     r"--dataset='mnist' is not one of"),
    ("missing_npz", "train.py", ["--dataset=npz:{ws}/missing.npz"],
     r"no such file or directory: .*missing\.npz"),
    ("bernoulli_outside_support", "train.py",
     ["--dataset=npz:{ws}/twos.npz", "--likelihood=bernoulli"],
     r"Bernoulli likelihood needs values in \[0, 1\]"),
    ("bce_outside_support", "train.py",
     ["--dataset=npz:{ws}/twos.npz", "--model=reference",
      "--reference_rec=bce"], r"the BCE reconstruction needs data in \[0, 1\]"),
    ("npz_wrong_shape", "train.py", ["--dataset=npz:{ws}/flat.npz"],
     r"expected examples of shape \[N, \.\.\.\] with at least one feature "
     r"axis, got shape \(10,\)"),
    ("npz_vectors_with_conv", "train.py",
     ["--dataset=npz:{ws}/vectors.npz", "--architecture=conv"],
     r"expected images of shape \[N, H, W\] or \[N, H, W, C\], got shape "
     r"\(10, 64\)"),
    ("npz_wrong_dtype", "train.py", ["--dataset=npz:{ws}/int64.npz"],
     r"unsupported dtype int64"),
    ("npz_two_channels", "train.py", ["--dataset=npz:{ws}/two_channels.npz",
                                      "--architecture=conv"],
     r"expected 1 or 3 channels, got 2"),
    ("npz_empty", "train.py", ["--dataset=npz:{ws}/empty.npz"],
     r"the data set is empty"),
    ("npz_nan", "train.py", ["--dataset=npz:{ws}/nan.npz"],
     r"NaN or infinite values"),
    ("npz_not_a_zip", "train.py", ["--dataset=npz:{ws}/garbage.npz"],
     r"cannot read as \.npz"),
    ("npz_ambiguous_arrays", "train.py", ["--dataset=npz:{ws}/two_arrays.npz"],
     r"expected an array named 'x' or 'images' \(found a, b\)"),
    ("images_folder_empty", "train.py", ["--dataset=images:{ws}/empty_dir"],
     r"no \.png/\.jpg/\.jpeg files"),
    ("batch_larger_than_data", "train.py",
     ["--dataset=npz:{ws}/small.npz", "--batch_size=64",
      "--logdir={ws}/new_run"],
     r"--batch_size=64 is larger than the 9 training examples"),
    # Run directories and export targets.
    ("logdir_of_another_config", "train.py",
     [*RUN_A, "--latent_dim=3", "--logdir={ws}/run_a"],
     r"holds a run of another config \(differs in: latent_dim\)"),
    ("resume_false_on_existing_run", "train.py",
     [*RUN_A, "--resume=false", "--logdir={ws}/run_a"],
     r"already holds a run; pass --overwrite"),
    ("logdir_is_a_file", "train.py", ["--logdir={ws}/a_file"],
     r"--logdir .*a_file exists and is not a directory"),
    ("train_export_dir_is_a_file", "train.py",
     ["--logdir={ws}/new_run", "--export_dir={ws}/a_file"],
     r"--export_dir .*a_file exists and is not a directory"),
    ("train_export_dir_is_a_saved_model", "train.py",
     ["--logdir={ws}/new_run", "--export_dir={ws}/served/1"],
     r"is itself a SavedModel"),
    ("train_checkpoint_of_another_architecture", "train.py",
     [*RUN_A, "--logdir={ws}/mixed"],
     r"checkpoint .*ckpt-4 does not fit this model \(another architecture\?\)"),
    # scripts/export.py.
    ("export_unknown_flag", "export.py", ["--latent_dim=3"],
     r"Unknown command line flag 'latent_dim'"),
    ("export_without_checkpoint", "export.py", ["--export_dir={ws}/out"],
     r"--checkpoint is required"),
    ("export_without_export_dir", "export.py", ["--checkpoint={ws}/run_a"],
     r"--export_dir is required"),
    ("export_missing_checkpoint", "export.py",
     ["--checkpoint={ws}/nothing", "--export_dir={ws}/out"],
     r"no such run directory or checkpoint"),
    ("export_missing_checkpoint_number", "export.py",
     ["--checkpoint={ws}/run_a/checkpoints/ckpt-999", "--export_dir={ws}/out"],
     r"ckpt-999: no such run directory or checkpoint"),
    ("export_not_a_run", "export.py",
     ["--checkpoint={ws}/empty_dir", "--export_dir={ws}/out"],
     r"not a tfvae run directory \(no config\.json\)"),
    ("export_run_without_checkpoint", "export.py",
     ["--checkpoint={ws}/no_checkpoint", "--export_dir={ws}/out"],
     r"the run has no checkpoint yet"),
    ("export_corrupt_config", "export.py",
     ["--checkpoint={ws}/corrupt", "--export_dir={ws}/out"],
     r"config\.json: cannot read the run's config"),
    ("export_dir_is_a_file", "export.py",
     ["--checkpoint={ws}/run_a", "--export_dir={ws}/a_file"],
     r"--export_dir .*a_file exists and is not a directory"),
    ("export_dir_is_a_saved_model", "export.py",
     ["--checkpoint={ws}/run_a", "--export_dir={ws}/served/1"],
     r"is itself a SavedModel; give the model's base directory"),
    ("export_checkpoint_of_another_architecture", "export.py",
     ["--checkpoint={ws}/mixed", "--export_dir={ws}/out"],
     r"checkpoint .*ckpt-4 does not fit this model \(another architecture\?\)"),
    # scripts/evaluate.py (the cases that fail before TensorFlow loads).
    ("evaluate_unknown_flag", "evaluate.py", ["--no_such_flag=1"],
     r"Unknown command line flag 'no_such_flag'"),
    ("evaluate_without_source", "evaluate.py", [],
     r"--logdir.*--saved_model"),
    ("evaluate_missing_logdir", "evaluate.py", ["--logdir={ws}/nothing"],
     r"nothing"),
    ("evaluate_not_a_run", "evaluate.py", ["--logdir={ws}/empty_dir"],
     r"no config\.json"),
]


def _snapshot(root):
  """Every path under root with its type, size, mtime and content hash."""
  state = {}
  for directory, dirs, files in os.walk(root):
    for name in dirs:
      path = os.path.join(directory, name)
      state[os.path.relpath(path, root)] = ("dir", os.stat(path).st_mtime_ns)
    for name in files:
      path = os.path.join(directory, name)
      with open(path, "rb") as f:
        digest = hashlib.sha1(f.read()).hexdigest()
      stat = os.stat(path)
      state[os.path.relpath(path, root)] = ("file", stat.st_size,
                                            stat.st_mtime_ns, digest)
  state["."] = ("dir", os.stat(root).st_mtime_ns)
  return state


def _train(logdir, latent_dim):
  from tfvae.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
  from tfvae.training import trainer  # pylint: disable=import-outside-toplevel
  config = ExperimentConfig.from_flat(
      hidden_units=16, latent_dim=latent_dim, steps=4, eval_every=4,
      checkpoint_every=2, verbose=0, logdir=logdir).validate()
  trainer.train(config, print_fn=lambda *args: None)
  return config


def _make_workspace(ws):
  """The files the cases point at (see CASES)."""
  config = _train(str(ws / "run_a"), latent_dim=2)
  _train(str(ws / "tmp_b"), latent_dim=3)
  # A run dir of run_a's config holding checkpoints of another architecture.
  os.makedirs(ws / "mixed")
  for name in ("config.json", "data.json"):
    shutil.copy(ws / "run_a" / name, ws / "mixed" / name)
  shutil.copytree(ws / "tmp_b" / "checkpoints", ws / "mixed" / "checkpoints")
  shutil.rmtree(ws / "tmp_b")
  os.makedirs(ws / "no_checkpoint")
  shutil.copy(ws / "run_a" / "config.json", ws / "no_checkpoint")
  shutil.copytree(ws / "run_a", ws / "corrupt")
  (ws / "corrupt" / "config.json").write_text("{not json")
  # pylint: disable=import-outside-toplevel
  from tfvae.export import saved_model
  from tfvae.models.factory import build_model
  # pylint: enable=import-outside-toplevel
  saved_model.export(build_model(config, (8, 8, 1)), config,
                     str(ws / "served"))
  rng = np.random.RandomState(0)
  np.savez(ws / "twos.npz", x=np.full((50, 8, 8), 2.0, np.float32))
  np.savez(ws / "flat.npz", x=rng.uniform(size=(10,)).astype(np.float32))
  np.savez(ws / "vectors.npz",
           x=rng.uniform(size=(10, 64)).astype(np.float32))
  np.savez(ws / "int64.npz", x=np.ones((10, 8, 8), np.int64))
  np.savez(ws / "two_channels.npz",
           x=rng.uniform(size=(10, 8, 8, 2)).astype(np.float32))
  np.savez(ws / "empty.npz", x=np.zeros((0, 8, 8), np.float32))
  nan = rng.uniform(size=(10, 8, 8)).astype(np.float32)
  nan[3, 2, 1] = np.nan
  np.savez(ws / "nan.npz", x=nan)
  (ws / "garbage.npz").write_bytes(b"this is not a zip archive\n" * 10)
  np.savez(ws / "two_arrays.npz", a=np.zeros((10, 8, 8), np.float32),
           b=np.zeros((10, 8, 8), np.float32))
  np.savez(ws / "small.npz", x=rng.uniform(size=(10, 8, 8)).astype(np.float32))
  os.makedirs(ws / "empty_dir")
  (ws / "bad.flags").write_text("--steps=10\n--not_a_flag=3\n")
  (ws / "a_file").write_text("not a directory\n")


def _run_case(base, root, case):
  name, script, args, _ = case
  ws = os.path.join(root, name)
  shutil.copytree(base, ws, symlinks=True)
  before = _snapshot(ws)
  args = [a.format(ws=ws) for a in args]
  run = run_script if name in REAL_PROCESS_CASES else run_forked
  out = run(script, *args, cwd=ws, timeout=300)
  return out, before, _snapshot(ws)


# One case of each kind runs in the fast subset (`-m "not slow"`); every case
# runs in the whole suite.
FAST_CASES = ("unknown_flag", "beta_and_beta_norm", "ignored_geco_flag",
              "missing_npz", "npz_wrong_shape", "logdir_of_another_config",
              "train_export_dir_is_a_saved_model", "export_without_checkpoint",
              "evaluate_not_a_run")
REAL_PROCESS_CASES = ("unknown_flag", "logdir_of_another_config",
                      "train_export_dir_is_a_saved_model",
                      "export_without_checkpoint", "evaluate_not_a_run")


def _params():
  return [pytest.param(case, id=case[0],
                       marks=() if case[0] in FAST_CASES else pytest.mark.slow)
          for case in CASES]


@pytest.fixture(scope="module")
def results(tmp_path_factory, request):
  # Only the cases selected in this session (each one is a subprocess).
  wanted = {item.callspec.params["case"][0] for item in request.session.items
            if getattr(item, "originalname", "") == "test_bad_input"}
  base = tmp_path_factory.mktemp("workspace")
  _make_workspace(base)
  root = tmp_path_factory.mktemp("cases")
  program_server()  # Started here, not by two threads at once.
  with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    futures = {case[0]: pool.submit(_run_case, str(base), str(root), case)
               for case in CASES if case[0] in wanted}
    return {name: future.result() for name, future in futures.items()}


def test_table_is_large_and_ids_unique():
  names = [case[0] for case in CASES]
  assert len(names) == len(set(names)) >= 25
  assert set(REAL_PROCESS_CASES) <= set(FAST_CASES) <= set(names)


@pytest.mark.parametrize("case", _params())
def test_bad_input(results, case):
  name, script, _, pattern = case
  out, before, after = results[name]
  lines = out.stderr.splitlines()
  assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
  assert len(lines) == 1, out.stderr[-2000:]
  assert lines[0].startswith(f"{script}: error: "), lines[0]
  message = lines[0][len(f"{script}: error: "):]
  assert __import__("re").search(pattern, message), message
  assert before == after, sorted(set(before.items()) ^ set(after.items()))
