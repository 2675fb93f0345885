"""tfvae-sweep: a sweep of ordinary training runs and the rate-distortion
plane (also `python scripts/sweep.py`).

    tfvae-sweep --flagfile=scripts/flags/rd_digits_bernoulli.flags \\
        --grid=beta=0.25,0.5,1,2,4,8 --sweep_dir=runs/rd_digits --jobs=2
    tfvae-sweep --steps=1000 --jobs=2 --sweep_dir=runs/likelihoods \\
      --presets=scripts/flags/bernoulli.flags,scripts/flags/continuous_bernoulli.flags

Every point of the grid (the cartesian product of all --grid flags and of
--presets) is a training run with its own logdir <sweep_dir>/<point>; all
other training flags given here (on the command line or in --flagfile) are
passed to every point. Finished runs are skipped, so rerunning the same command
resumes a sweep. Each run is then evaluated like tfvae-evaluate does (IWAE NLL
with --iw_samples, disentanglement metrics on data sets with factors, sizes
from the --metric_* flags; kept when up to date) and the sweep
writes <sweep_dir>/sweep.csv, sweep.md, rd_plane.png and TensorBoard HParams
(`tensorboard --logdir <sweep_dir>`). --include=RUNDIR adds finished runs of
other methods to the table and the plot.
"""

import os
import sys

from absl import flags

from tfvae.cli import flags as cli
from tfvae.config import ExperimentConfig
from tfvae.errors import ConfigError

FLAGS = flags.FLAGS
# Training flags that are not passed on to the points (the sweep sets them).
NOT_PASSED = ("logdir",)
EVALUATION_OPTIONS = ("iw_samples", "elbo_samples", "metrics", "sizes")
# Training flags that mean nothing typed at the sweep, with what to use.
# (Preset flagfiles set a logdir, so only the command line is checked.)
IGNORED_ON_COMMAND_LINE = {
    "logdir": "--sweep_dir=DIR (each point's run directory is DIR/<point>)",
}


def refuse_ignored_flags(argv):
  """ConfigError for a flag typed on the command line that would be ignored."""
  for arg in argv[1:]:
    if arg == "--":
      break
    name = arg.lstrip("-").split("=", 1)[0]
    if arg.startswith("-") and name in IGNORED_ON_COMMAND_LINE:
      raise ConfigError(f"--{name} is not used by {os.path.basename(argv[0])}; use "
                        f"{IGNORED_ON_COMMAND_LINE[name]}")


def define_flags():
  cli.define_config_flags()
  flags.DEFINE_multi_string("grid", [], "FLAG=V1,V2,...: values of one "
                            "training flag; several --grid make their "
                            "cartesian product.")
  flags.DEFINE_list("presets", [], "Flagfiles to run as points (one more axis "
                    "of the product), e.g. scripts/flags/bernoulli.flags,...")
  flags.DEFINE_multi_string("include", [], "A finished run directory of "
                            "another method to add to the table and the plot "
                            "(repeatable).")
  flags.DEFINE_string("sweep_dir", "runs/sweep", "Directory of the sweep: one "
                      "run directory per point, logs/, the report.")
  flags.DEFINE_integer("jobs", 1, "Trainings at a time, each in its own "
                       "process: one point, or a group of points (--group) "
                       "that also evaluates them; other evaluations follow, "
                       "one by one.")
  flags.DEFINE_integer("group", 0, "Points trained together in one process "
                       "(one data pipeline, their steps in one compiled "
                       "function; each point's numbers are its own run's): "
                       "0 = auto (default: up to 8 for --architecture=mlp, "
                       "fewer to give each of a Ray cluster's task slots a "
                       "group; else 1), 1 = one process per point. On Ray "
                       "each group is one task.")
  flags.DEFINE_enum("engine", "local", ["local", "ray"], "Where the points "
                    "train: local (--jobs subprocesses) or ray (one Ray task "
                    "per point or group; pip install 'tfvae[ray]').")
  flags.DEFINE_string("ray_address", None, "--engine=ray: empty starts a Ray "
                      "instance on this machine (loopback, --jobs CPUs, or "
                      "2); auto or HOST:PORT joins a running cluster.")
  flags.DEFINE_float("cpus_per_run", 1, "--engine=ray: CPUs reserved per "
                     "task (a point or a group).")
  flags.DEFINE_integer("max_retries", 3, "--engine=ray: retries of a point "
                       "whose worker died (it resumes from its checkpoint).")
  flags.DEFINE_enum("scheduler", "none", ["none", "asha"], "--engine=ray: "
                    "asha stops points early by their validation -ELBO.")
  cli.define_evaluation_flags(EVALUATION_OPTIONS)
  flags.DEFINE_bool("reevaluate", False, "Evaluate every run again even when "
                    "its evaluation is up to date.")
  flags.DEFINE_bool("dry_run", False, "Print the training commands and stop.")


def config_of_args(args):
  """Parses one point's arguments like tfvae-train would; its config."""
  values = flags.FlagValues()
  cli.define_config_flags(flag_values=values)
  try:
    values(["train.py"] + args)
  except flags.Error as e:
    raise ConfigError(str(e).splitlines()[0]) from None
  except OSError as e:
    raise ConfigError(f"cannot read flagfile: {e}") from None
  return cli.config_from_flags(flag_values=values)


def main(argv):
  program = os.path.basename(argv[0])
  cli.no_arguments(program, argv)

  def sweep():
    refuse_ignored_flags(sys.argv)
    # pylint: disable-next=import-outside-toplevel
    from tfvae.analysis.sweep_runner import SweepSpec, run_sweep
    base_args = [FLAGS[name].serialize()
                 for name in ExperimentConfig.field_sections()
                 if FLAGS[name].present and name not in NOT_PASSED]
    spec = SweepSpec(FLAGS.sweep_dir, FLAGS.grid, FLAGS.presets, FLAGS.include,
                     base_args, FLAGS.jobs, FLAGS.reevaluate, FLAGS.dry_run,
                     group=FLAGS.group)
    from tfvae.analysis import engines  # pylint: disable=import-outside-toplevel
    spec.engine = engines.make_engine(
        FLAGS.engine, jobs=FLAGS.jobs, address=FLAGS.ray_address,
        num_cpus=FLAGS.jobs if FLAGS["jobs"].present else 2,
        cpus_per_run=FLAGS.cpus_per_run, max_retries=FLAGS.max_retries,
        scheduler=FLAGS.scheduler)
    spec.validate()
    options = cli.evaluation_options(EVALUATION_OPTIONS)
    planned, failed = run_sweep(spec, options, config_of_args)
    if failed:
      for line in failed:
        print(line, file=sys.stderr)
      cli.fail(program, f"{len(failed)} of {planned} runs failed", code=1)

  cli.run_guarded(program, sweep)


def run():
  """Console entry point."""
  define_flags()
  cli.run_program(main)


if __name__ == "__main__":
  run()
