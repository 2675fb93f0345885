"""Sweep engines: where the training runs of a sweep's points execute.

An engine takes the pending points of a sweep (each one `train.py` command
with its own run directory and log file) and trains them; the sweep then
evaluates the finished runs and writes its report as always. Both engines run
the very same command per point (`train.py`) or group of points (a
`tfvae.analysis.sweep_group` process), so a point's run directory and
numbers do not depend on the engine:

- `LocalEngine`: `jobs` subprocesses at a time on this machine.
- `RayEngine`: one Ray task per point or per group of points (Ray Core), or
  one Ray Tune trial per point when an early-stopping scheduler is chosen.
  The task starts the point's `train.py` command (a group's
  `tfvae.analysis.sweep_group` process) as a subprocess of the Ray worker:
  TensorFlow's process-wide state (devices, mixed-precision policy,
  strategies, memory) stays in a fresh process per run, exactly as with the
  local engine, and a killed worker takes its training process with it.

Fault tolerance comes from the runs themselves: `train.py` (and a group
process, for each of its points) resumes a run directory from its latest
checkpoint (`--resume=auto`), so a point whose worker died is retried by Ray
(`max_retries`) and continues where its last checkpoint left it; a finished
point (`final_metrics.json` at its final step) is skipped when the sweep is
run again. Ctrl-C cancels the Ray tasks (their training processes die with
them) and leaves every finished point intact.

Early stopping (`scheduler="asha"`): Asynchronous Successive Halving (Li et
al. 2020, "A System for Massively Parallel Hyperparameter Tuning", MLSys)
compares the points' validation -ELBO at each evaluation of the run (the
line `step N: validation -ELBO X nats ...` that every evaluation prints) and
stops the worse ones early. A stopped point keeps its checkpoints and gets a
`stopped_early.json` marker; the sweep evaluates its latest checkpoint and
marks its row `stopped_early`. Rerunning with the scheduler keeps it stopped;
rerunning without one trains it to the end.

Ray is optional (`pip install tfvae[ray]`); only `RayEngine` imports it.
"""

# Size: the local and Ray engines share `run_point` and its fault protocol.

import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import threading
import time

from tfvae.analysis import sweep as sweep_lib
from tfvae.errors import ConfigError
from tfvae.runs import files

ENGINES = ("local", "ray")
SCHEDULERS = ("none", "asha")
INSTALL_HINT = "pip install 'tfvae[ray]'"
STOPPED_FILE = "stopped_early.json"
STOPPED_STATUS = "stopped_early"
# Test hook: "POINT:PATH" kills the Ray worker training POINT once (when PATH
# does not exist yet) as soon as that point's first checkpoint is on disk.
FAULT_ENV = "TFVAE_SWEEP_KILL_WORKER_ONCE"
# The checkpoint state file of a run directory (tf.train.CheckpointManager
# writes it last when it saves, naming the latest checkpoint first).
CHECKPOINT_STATE = os.path.join("checkpoints", "checkpoint")
# The line PeriodicEvaluation prints after each evaluation of a run.
EVALUATION_LINE = re.compile(
    r"^step (\d+): validation -ELBO ([-+0-9.eEinfa]+) nats")
# ASHA: stop the worse half at each rung (Li et al. 2020 use 2 to 4).
ASHA_REDUCTION_FACTOR = 2


@dataclasses.dataclass
class Training:
  """One point to train, or one group of points (`members`).

  Attributes:
    name: the point's name (its run directory's base name), or the group's.
    command: the full `train.py` command line (program first), or the group
      process's.
    log_path: file its output is appended to.
    logdir: the run directory (a group: its first member's).
    steps: the run's total steps (None: not fixed by --steps).
    eval_every: steps between its evaluations.
    checkpoint_every: steps between its checkpoints.
    members: a group's points, [(name, run directory)]; empty for a point.
  """

  name: str
  command: list
  log_path: str
  logdir: str
  steps: int = None
  eval_every: int = None
  checkpoint_every: int = None
  members: list = dataclasses.field(default_factory=list)

  def logdirs(self):
    """The run directories this training writes."""
    return [logdir for _, logdir in self.members] or [self.logdir]


class PointKilled(RuntimeError):
  """A point's training process died of a signal (retried by Ray)."""


def stopped_early(logdir):
  """The stop marker of a point stopped by the scheduler, or None."""
  return files.read_json_or_none(os.path.join(logdir, STOPPED_FILE))


def _write_stopped(logdir, values):
  files.write_json(os.path.join(logdir, STOPPED_FILE), values)


def point_status(logdir):
  """`stopped_early` for a point stopped by the scheduler, else None."""
  if stopped_early(logdir) is not None and not sweep_lib.training_done(logdir):
    return STOPPED_STATUS
  return None


def _clear_stopped(logdir):
  path = os.path.join(logdir, STOPPED_FILE)
  if os.path.exists(path):
    os.remove(path)


def _clear_finished(trainings, results):
  """Drops the stop marker of every point these trainings finished."""
  for training in trainings:
    if results[training.name].ok:
      for logdir in training.logdirs():
        if sweep_lib.training_done(logdir, training.steps):
          _clear_stopped(logdir)


def _die_with_parent():
  """In the child: receive SIGKILL when the parent (the worker) dies."""
  try:
    import ctypes  # pylint: disable=import-outside-toplevel
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig,
                                                   signal.SIGKILL)
  except (OSError, AttributeError):  # Not Linux: no such guarantee.
    pass


def _kill_self_after_checkpoint(logdir, proc, done_path):
  """The fault hook: SIGKILL this worker once `logdir`'s first checkpoint is
  saved."""
  state = os.path.join(logdir, CHECKPOINT_STATE)

  def watch():
    while proc.poll() is None:
      if os.path.exists(state):
        with open(done_path, "w") as f:
          f.write(f"killed worker {os.getpid()} training {logdir}\n")
        os.kill(os.getpid(), signal.SIGKILL)
      time.sleep(0.05)

  threading.Thread(target=watch, daemon=True).start()


def _wait_for_checkpoint(training, step, proc, timeout=120.0):
  """Waits until the run's checkpoint of `step` is its latest one.

  An evaluation is printed just before the checkpoint of the same step is
  saved; reporting it only afterwards means a point the scheduler stops
  there keeps the weights that were judged.
  """
  state = os.path.join(training.logdir, CHECKPOINT_STATE)
  deadline = time.time() + timeout
  while proc.poll() is None and time.time() < deadline:
    try:
      with open(state) as f:
        if re.search(rf'[/"]ckpt-{step}"', f.readline()):
          return
    except OSError:
      pass
    time.sleep(0.05)


def run_point(training, cwd=None, on_evaluation=None, fault=None):
  """Runs one point's `train.py` command (or a group's process); its output
  goes to its log file.

  Args:
    training: the `Training`.
    cwd: working directory of the command (relative paths in it).
    on_evaluation: called as f(step, neg_elbo) for every evaluation line.
    fault: the value of FAULT_ENV (tests only).

  Returns:
    `sweep.JobResult`.

  Raises:
    PointKilled: the training process died of a signal.
  """
  started = time.time()
  os.makedirs(os.path.dirname(os.path.abspath(training.log_path)),
              exist_ok=True)
  env = dict(os.environ)
  env["PYTHONUNBUFFERED"] = "1"  # Evaluation lines as they happen.
  with open(training.log_path, "a") as log:
    log.write(f"$ {' '.join(training.command)}\n")
    log.flush()
    proc = subprocess.Popen(  # pylint: disable=subprocess-popen-preexec-fn
        training.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, cwd=cwd, env=env, preexec_fn=_die_with_parent)
    try:
      if fault:
        name, _, done_path = fault.partition(":")
        logdirs = dict(training.members or [(training.name, training.logdir)])
        if name in logdirs and not os.path.exists(done_path):
          _kill_self_after_checkpoint(logdirs[name], proc, done_path)
      for line in proc.stdout:
        log.write(line)
        log.flush()
        match = EVALUATION_LINE.match(line)
        if match and on_evaluation is not None:
          step = int(match.group(1))
          every = training.checkpoint_every
          if every and step % every == 0:
            _wait_for_checkpoint(training, step, proc)
          on_evaluation(step, float(match.group(2)))
      code = proc.wait()
    finally:
      if proc.poll() is None:  # Interrupted (e.g. stopped by the scheduler).
        proc.kill()
        proc.wait()
  seconds = time.time() - started
  if code < 0:
    raise PointKilled(f"{training.name}: training killed by signal {-code}")
  if code != 0:
    return sweep_lib.JobResult(training.name, False, f"training failed (exit "
                               f"{code}); see {training.log_path}", seconds)
  return sweep_lib.JobResult(training.name, True, "trained", seconds)


class LocalEngine:
  """`jobs` `train.py` subprocesses at a time on this machine."""

  name = "local"
  trains_groups = True

  def __init__(self, jobs=1):
    self.jobs = jobs

  def group_slots(self):
    """How many groups to spread a sweep's points over: 1. On one machine
    one group process of 8 small models keeps the cores as busy as several
    processes would, and pays start-up and data once (docs/performance.md)."""
    return 1

  def finished(self, training):
    """Whether the point needs no training."""
    return sweep_lib.training_done(training.logdir, training.steps)

  def run(self, trainings, print_fn=print):
    """Trains the points; returns {name: JobResult}."""
    results = sweep_lib.run_trainings(
        [(t.name, t.command, t.log_path) for t in trainings], self.jobs,
        print_fn=print_fn)
    _clear_finished(trainings, results)
    return results


def import_ray():
  """`ray`, or ConfigError saying how to install it."""
  try:
    import ray  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise ConfigError("--engine=ray needs Ray, which is not installed: "
                      f"{INSTALL_HINT}") from None
  return ray


class RayEngine:
  """One Ray task per point or group of points (or one Ray Tune trial per
  point), on a local or joined cluster.

  Args:
    address: None starts a Ray instance on this machine (loopback only, no
      dashboard, `num_cpus` CPUs); "auto" or "host:port" joins a cluster.
    num_cpus: CPUs of a Ray instance started here.
    cpus_per_run: CPUs Ray reserves for each point or group.
    max_retries: retries of a point (group) whose worker or training process
      died.
    scheduler: "none" or "asha" (early stopping through Ray Tune, which
      judges and stops points one by one: no groups).
  """

  name = "ray"

  def __init__(self, address=None, num_cpus=2, cpus_per_run=1, max_retries=3,
               scheduler="none"):
    if scheduler not in SCHEDULERS:
      raise ConfigError(f"scheduler must be one of {', '.join(SCHEDULERS)}, "
                        f"got {scheduler!r}")
    if cpus_per_run <= 0:
      raise ConfigError(f"cpus_per_run must be > 0, got {cpus_per_run}")
    if num_cpus < 1:
      raise ConfigError(f"num_cpus must be >= 1, got {num_cpus}")
    if max_retries < 0:
      raise ConfigError(f"max_retries must be >= 0, got {max_retries}")
    if address is None:
      # Ray resolves 127.0.0.1 to the machine's outward address and listens
      # there; with "clusters" off a local instance uses and listens on the
      # loopback address only (read when Ray is first imported).
      os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    self.ray = import_ray()
    self.address = address or None
    self.num_cpus = num_cpus
    self.cpus_per_run = cpus_per_run
    self.max_retries = max_retries
    self.scheduler = scheduler
    self._connected_here = False

  @property
  def trains_groups(self):
    return self.scheduler == "none"

  def group_slots(self):
    """How many groups to spread a sweep's points over: the tasks the
    cluster runs at once, its CPUs / cpus_per_run (a Ray instance this
    engine would start: num_cpus; else the cluster's, joining it first when
    this process has not), so each machine gets work."""
    if self.address is None and not self.ray.is_initialized():
      cpus = self.num_cpus
    else:
      self._ensure_connected()
      cpus = self.ray.cluster_resources().get("CPU", 1)
    return max(1, int(cpus // self.cpus_per_run))

  def finished(self, training):
    """Whether the point needs no training (a stopped point stays stopped
    under the scheduler)."""
    if sweep_lib.training_done(training.logdir, training.steps):
      return True
    return (self.scheduler != "none" and
            stopped_early(training.logdir) is not None)

  def run(self, trainings, print_fn=print):
    """Trains the points on Ray; returns {name: JobResult}."""
    try:
      if not trainings:
        return {}
      self._ensure_connected()
      where = self.address or (f"a Ray instance on this machine "
                               f"({self.num_cpus} CPUs)")
      points = sum(len(t.members) or 1 for t in trainings)
      what = (f"{points} point(s) in {len(trainings)} group(s)"
              if any(t.members for t in trainings)
              else f"{points} point(s)")
      print_fn(f"training {what} on {where}, {self.cpus_per_run:g} CPU(s) "
               "each" + (f", scheduler {self.scheduler}"
                         if self.scheduler != "none" else ""))
      if self.scheduler == "asha":
        results = self._run_tune(trainings, print_fn)
      else:
        results = self._run_tasks(trainings, print_fn)
    finally:
      if self._connected_here:
        # Stops a Ray instance started here; on a cluster it ends this job,
        # and Ray kills the job's remaining workers.
        self.ray.shutdown()
        self._connected_here = False
    _clear_finished(trainings, results)
    return results

  def _ensure_connected(self):
    """Starts or joins Ray unless this process already has; `run` shuts down
    what this engine started."""
    if not self.ray.is_initialized():
      self._connect()
      self._connected_here = True

  def _connect(self):
    # Workers import tfvae (the task functions live here) and run train.py
    # with the driver's tfvae first on the path.
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH"))
                           if p)
    runtime_env = {"env_vars": {"PYTHONPATH": path}}
    if self.address is None:
      self.ray.init(num_cpus=self.num_cpus, include_dashboard=False,
                    _node_ip_address="127.0.0.1", runtime_env=runtime_env,
                    log_to_driver=False)
    else:
      self.ray.init(address=self.address, runtime_env=runtime_env,
                    log_to_driver=False)

  def _failure(self, training, error):
    first = str(error).strip().splitlines()
    return sweep_lib.JobResult(
        training.name, False, f"training failed on Ray after up to "
        f"{self.max_retries} retries ({first[-1] if first else error}); see "
        f"{training.log_path}", 0.0)

  def _run_tasks(self, trainings, print_fn):
    ray = self.ray
    task = ray.remote(_ray_task).options(
        num_cpus=self.cpus_per_run, max_retries=self.max_retries,
        retry_exceptions=[PointKilled])
    cwd, fault = os.getcwd(), os.environ.get(FAULT_ENV)
    refs = {task.remote(t, cwd, fault): t for t in trainings}
    pending, results = list(refs), {}
    try:
      with _ctrl_c_flag() as interrupted:
        while pending:
          # A timeout keeps the driver responsive to Ctrl-C.
          ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
          for ref in ready:
            training = refs[ref]
            try:
              result = ray.get(ref)
            except ray.exceptions.RayError as e:
              result = self._failure(training, e)
            results[training.name] = result
            print_fn(f"[{len(results)}/{len(trainings)}] {result.name}: "
                     f"{result.message} ({result.seconds:.0f}s)")
          if interrupted.is_set():
            raise KeyboardInterrupt
    except KeyboardInterrupt:
      for ref in pending:
        ray.cancel(ref, force=True)  # Kills the worker and its training.
      raise
    return results

  def _run_tune(self, trainings, print_fn):
    # Ctrl-C must reach this process as KeyboardInterrupt (Tune would catch
    # it and end the experiment as if it were finished).
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    # pylint: disable=import-outside-toplevel
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    steps = [t.steps for t in trainings if t.steps]
    evals = [t.eval_every for t in trainings if t.eval_every]
    # max_t one past the last step: ASHA stops a trial that reports
    # step >= max_t, and a point's last evaluation comes before its final
    # metrics are written, so max_t = steps killed finished points at random.
    scheduler = ASHAScheduler(
        time_attr="step", metric="neg_elbo", mode="min",
        max_t=max(steps) + 1 if steps else 10**9,
        grace_period=min(evals) if evals else 1,
        reduction_factor=ASHA_REDUCTION_FACTOR)
    by_name = {t.name: t for t in trainings}
    storage = os.path.join(os.path.dirname(os.path.abspath(
        trainings[0].log_path)), "tune")
    tuner = tune.Tuner(
        tune.with_resources(_tune_trial, {"cpu": self.cpus_per_run}),
        param_space={
            "training": tune.grid_search([dataclasses.asdict(t)
                                          for t in trainings]),
            "cwd": os.getcwd(),
            "fault": os.environ.get(FAULT_ENV),
        },
        tune_config=tune.TuneConfig(
            scheduler=scheduler, num_samples=1, reuse_actors=False,
            trial_dirname_creator=lambda trial: trial.config["training"][
                "name"]),
        run_config=tune.RunConfig(
            name=f"sweep-{int(time.time())}", storage_path=storage, verbose=0,
            failure_config=tune.FailureConfig(max_failures=self.max_retries)))
    grid = tuner.fit()
    results = {}
    for trial in grid:
      training = by_name[trial.config["training"]["name"]]
      metrics = trial.metrics or {}
      if trial.error is not None:
        result = self._failure(training, trial.error)
      elif sweep_lib.training_done(training.logdir, training.steps):
        result = sweep_lib.JobResult(training.name, True, "trained", 0.0)
      elif metrics.get("exit_code") not in (None, 0):
        result = sweep_lib.JobResult(
            training.name, False, f"training failed (exit "
            f"{metrics['exit_code']}); see {training.log_path}", 0.0)
      else:
        stop = {"step": metrics.get("step"),
                "neg_elbo": metrics.get("neg_elbo"),
                "scheduler": "asha"}
        _write_stopped(training.logdir, stop)
        result = sweep_lib.JobResult(
            training.name, True, f"stopped early at step {stop['step']} "
            f"(-ELBO {stop['neg_elbo']})", 0.0)
      results[training.name] = result
      print_fn(f"[{len(results)}/{len(trainings)}] {result.name}: "
               f"{result.message}")
    return results


@contextlib.contextmanager
def _ctrl_c_flag():
  """Within: Ctrl-C (SIGINT) sets the yielded event; the caller checks it.

  The loop acts on it after each wait (at most a second), wherever in Ray's
  client calls the signal lands, instead of relying on a KeyboardInterrupt
  to surface from them. Off the main thread no handler can be installed,
  and nothing changes.
  """
  event = threading.Event()
  if threading.current_thread() is not threading.main_thread():
    yield event
    return
  previous = signal.signal(signal.SIGINT, lambda signum, frame: event.set())
  try:
    yield event
  finally:
    signal.signal(signal.SIGINT, previous)


def _ray_task(training, cwd, fault):
  """A Ray task: one point's training (see `run_point`)."""
  return run_point(training, cwd, fault=fault)


def _tune_trial(config):
  """A Ray Tune trial: one point's training, its evaluations reported."""
  from ray import tune  # pylint: disable=import-outside-toplevel
  training = Training(**config["training"])
  last = {}

  def report(step, neg_elbo):
    last.update(step=step, neg_elbo=neg_elbo)
    tune.report({"step": step, "neg_elbo": neg_elbo})

  result = run_point(training, config["cwd"], on_evaluation=report,
                     fault=config.get("fault"))
  code = 0 if result.ok else 1
  tune.report(dict(last, exit_code=code))


def make_engine(name, jobs=1, address=None, num_cpus=2, cpus_per_run=1,
                max_retries=3, scheduler="none"):
  """The engine called `name` ("local" or "ray"); ConfigError when it cannot
  be made (Ray missing, a scheduler without Ray, bad numbers)."""
  if name not in ENGINES:
    raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got "
                      f"{name!r}")
  if name == "local":
    if scheduler != "none":
      raise ConfigError(f"--scheduler={scheduler} needs --engine=ray")
    return LocalEngine(jobs)
  return RayEngine(address=address, num_cpus=num_cpus,
                   cpus_per_run=cpus_per_run, max_retries=max_retries,
                   scheduler=scheduler)

