"""Several train steps per tf.function call change nothing but the speed.

`--steps_per_execution` (0 = auto) runs k steps per call; the model keeps a
per-step log, so TensorBoard still gets every step and the NaN guard still
names the first bad step. Here: k is reduced to divide the evaluation and
checkpoint intervals, the start step and the steps to run; a k = 10 run and a
k = 1 run end with identical weights and identical per-step TensorBoard
scalars; `--log_every` thins the per-step scalars.
"""

import glob
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import run_script
from tfvae.config import ExperimentConfig
from tfvae.errors import ConfigError
from tfvae.training import trainer

SMALL = ["--hidden_units=16", "--latent_dim=2", "--verbose=0", "--steps=60",
         "--eval_every=30", "--checkpoint_every=30"]


@pytest.mark.parametrize("requested,start,total,expected", [
    (0, 0, 2000, 50),    # auto with the default 200 and 500 step intervals
    (10, 0, 2000, 10),
    (10, 0, 55, 5),      # the last step must end an execution
    (10, 437, 2000, 1),  # a resume from an odd step
    (64, 0, 2000, 4),    # gcd with the 200 and 500 step intervals
    (1, 0, 2000, 1),
])
def test_execution_steps_divide_every_boundary(requested, start, total,
                                               expected):
  config = ExperimentConfig.from_flat(steps_per_execution=requested).validate()
  assert trainer.execution_steps(config, start, total) == expected


def test_auto_steps_per_execution():
  assert ExperimentConfig().runtime.steps_per_execution == 0  # the default is auto
  auto = trainer.requested_steps_per_execution(ExperimentConfig().validate())
  assert auto == trainer.AUTO_STEPS_PER_EXECUTION > 1
  # A KL schedule is computed inside each step: auto keeps its speed.
  scheduled = ExperimentConfig.from_flat(
      kl_schedule="linear", kl_warmup_steps=10).validate()
  assert trainer.requested_steps_per_execution(scheduled) == \
      trainer.AUTO_STEPS_PER_EXECUTION
  with pytest.raises(ConfigError, match="steps_per_execution"):
    ExperimentConfig.from_flat(steps_per_execution=-1).validate()
  with pytest.raises(ConfigError, match="log_every"):
    ExperimentConfig.from_flat(log_every=0).validate()


def _train_scalars(logdir):
  from tensorboard.compat.proto import event_pb2  # pylint: disable=import-outside-toplevel
  out = {}
  for path in glob.glob(os.path.join(logdir, "train", "events.out.*")):
    for record in tf.data.TFRecordDataset(path):
      event = event_pb2.Event.FromString(record.numpy())
      for value in event.summary.value:
        if value.metadata.plugin_data.plugin_name == "scalars":
          out[(value.tag, event.step)] = float(tf.make_ndarray(value.tensor))
  return out


def _final_variables(logdir):
  reader = tf.train.load_checkpoint(os.path.join(logdir, "checkpoints"))
  return {key: reader.get_tensor(key)
          for key in reader.get_variable_to_shape_map()
          if key.startswith(("model/", "optimizer/"))}


def test_ten_steps_per_call_equal_one_step_per_call(tmp_path):
  runs = {}
  for k in (1, 10):
    logdir = str(tmp_path / f"k{k}")
    out = run_script("train.py", *SMALL, f"--steps_per_execution={k}",
                     f"--logdir={logdir}")
    assert out.returncode == 0, out.stderr
    runs[k] = (_train_scalars(logdir), _final_variables(logdir))
  scalars_1, variables_1 = runs[1]
  scalars_10, variables_10 = runs[10]
  assert sorted({step for _, step in scalars_10}) == list(range(1, 61))
  assert scalars_10.keys() == scalars_1.keys()
  for key, value in scalars_1.items():
    assert scalars_10[key] == pytest.approx(value, rel=1e-6, abs=1e-6), key
  assert variables_10.keys() == variables_1.keys()
  for key, value in variables_1.items():
    np.testing.assert_allclose(variables_10[key], value, rtol=1e-6,
                               atol=1e-7, err_msg=key)


def test_log_every_thins_the_step_scalars(tmp_path):
  logdir = str(tmp_path / "thin")
  out = run_script("train.py", *SMALL, "--log_every=7", f"--logdir={logdir}")
  assert out.returncode == 0, out.stderr
  scalars = _train_scalars(logdir)
  assert sorted({step for tag, step in scalars if tag == "loss"}) == \
      list(range(7, 61, 7))


def _library_vae(**compile_args):
  import keras  # pylint: disable=import-outside-toplevel
  import tfvae  # pylint: disable=import-outside-toplevel
  keras.utils.set_random_seed(0)
  encoder = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, "relu"),
                              keras.layers.Dense(4)])
  decoder = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, "relu"),
                              keras.layers.Dense(6)])
  vae = tfvae.VAE(encoder, decoder,
                  likelihood=tfvae.likelihoods.Gaussian(0.5, mean="identity"))
  vae.compile(optimizer="adam", **compile_args)
  return vae


def _fit_logging_every_step(vae, x, epochs):
  import keras  # pylint: disable=import-outside-toplevel
  seen = {}

  class Record(keras.callbacks.Callback):

    def on_train_batch_end(self, batch, logs=None):
      steps, values = vae.read_step_log(max(seen, default=0))
      for i, step in enumerate(steps.tolist()):
        seen[step] = [values[name][i] for name in vae.scalar_names]

  # 6 batches per epoch: the automatic 50 steps per call do not divide it.
  vae.fit(x, epochs=epochs, batch_size=8, shuffle=False, verbose=0,
          callbacks=[Record()])
  return seen


def test_library_compile_auto_takes_the_cli_speed_settings():
  vae = _library_vae(steps_per_execution="auto")
  assert vae.steps_per_execution == trainer.AUTO_STEPS_PER_EXECUTION > 1
  assert vae.jit_compile is False
  assert vae.step_log["values"].shape[0] == trainer.AUTO_STEPS_PER_EXECUTION
  own = _library_vae(steps_per_execution=3, jit_compile=True)
  assert own.steps_per_execution == 3 and own.jit_compile is True
  assert own.step_log["values"].shape[0] == 3


def test_library_auto_trains_the_numbers_of_one_step_per_call():
  x = np.random.RandomState(1).normal(size=(48, 6)).astype(np.float32)
  fast = _library_vae(steps_per_execution="auto")
  plain = _library_vae(steps_per_execution=1)
  fast_log = _fit_logging_every_step(fast, x, epochs=3)
  plain_log = _fit_logging_every_step(plain, x, epochs=3)
  assert sorted(fast_log) == sorted(plain_log) == list(range(1, 19))
  assert int(fast.optimizer.iterations.numpy()) == 18
  for step in plain_log:
    np.testing.assert_allclose(fast_log[step], plain_log[step], rtol=1e-6,
                               atol=1e-6)
  for a, b in zip(fast.state_weights(), plain.state_weights()):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


def _digits_vae(**compile_args):
  """A tiny Dense VAE on 8x8 images."""
  import keras  # pylint: disable=import-outside-toplevel
  import tfvae  # pylint: disable=import-outside-toplevel
  keras.utils.set_random_seed(0)
  encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(8, "relu"),
                              keras.layers.Dense(4)])
  decoder = keras.Sequential([keras.Input((2,)), keras.layers.Dense(64),
                              keras.layers.Reshape((8, 8, 1))])
  vae = tfvae.VAE(encoder, decoder,
                  likelihood=tfvae.likelihoods.Gaussian(0.5, mean="sigmoid"))
  vae.compile(optimizer="adam", **compile_args)
  return vae


def _images(n):
  return np.random.RandomState(2).uniform(size=(n, 8, 8, 1)).astype(
      np.float32)


def _logged_fit(vae, data, **fit_args):
  import keras  # pylint: disable=import-outside-toplevel
  seen = {}

  class Record(keras.callbacks.Callback):

    def on_train_batch_end(self, batch, logs=None):
      steps, values = vae.read_step_log(max(seen, default=0))
      for i, step in enumerate(steps.tolist()):
        seen[step] = [values[name][i] for name in vae.scalar_names]

  vae.fit(data, verbose=0, callbacks=[Record()], **fit_args)
  return seen


def _assert_same_training(fast, plain, fast_log, plain_log, steps):
  assert sorted(fast_log) == sorted(plain_log) == list(range(1, steps + 1))
  assert int(fast.optimizer.iterations.numpy()) == steps
  for step in plain_log:
    np.testing.assert_allclose(fast_log[step], plain_log[step], rtol=1e-6,
                               atol=1e-6)
  for a, b in zip(fast.state_weights(), plain.state_weights()):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


def test_library_default_compile_takes_the_cli_speed_settings():
  vae = _digits_vae()
  assert vae.steps_per_execution == trainer.AUTO_STEPS_PER_EXECUTION > 1
  assert vae.jit_compile is False
  assert vae.get_compile_config()["steps_per_execution"] == "auto"
  own = _digits_vae(steps_per_execution=1)
  assert own.steps_per_execution == 1
  assert own.get_compile_config()["steps_per_execution"] == 1


@pytest.mark.parametrize("counts,expected", [
    ([7], 7), ([37], 37), ([100], 50), ([53], 1), ([12, 8], 4), ([None], 1),
    ([45, None], 1)])
def test_steps_for_epoch_divides_every_count(counts, expected):
  from tfvae.models import execution  # pylint: disable=import-outside-toplevel
  assert execution.steps_for_epoch(50, counts) == expected


def test_default_fit_trains_exactly_steps_per_epoch_times_epochs():
  """Keras' multi-step loop would run 50 steps in an epoch of 7 on repeated
  data; the automatic value divides the epoch instead."""
  x = _images(40)
  data = tf.data.Dataset.from_tensor_slices(x).batch(8).repeat()
  fast, plain = _digits_vae(), _digits_vae(steps_per_execution=1)
  fast_log = _logged_fit(fast, data, steps_per_epoch=7, epochs=3)
  plain_log = _logged_fit(plain, data, steps_per_epoch=7, epochs=3)
  assert fast.steps_per_execution == 7
  _assert_same_training(fast, plain, fast_log, plain_log, 21)


def test_default_fit_trains_every_batch_of_the_data():
  x = _images(37 * 8)
  fast, plain = _digits_vae(), _digits_vae(steps_per_execution=1)
  fast_log = _logged_fit(fast, x, batch_size=8, shuffle=False, epochs=1)
  plain_log = _logged_fit(plain, x, batch_size=8, shuffle=False, epochs=1)
  assert fast.steps_per_execution == 37
  _assert_same_training(fast, plain, fast_log, plain_log, 37)


def test_an_infinite_dataset_without_steps_per_epoch_runs_one_step_per_call():
  from tfvae.models import execution  # pylint: disable=import-outside-toplevel
  data = tf.data.Dataset.from_tensor_slices(_images(16)).batch(8).repeat()
  assert execution.batches_per_epoch(data) is None
  assert execution.batches_per_epoch(_images(17), batch_size=8) == 3
  assert execution.batches_per_epoch(_images(40), validation_split=0.2) == 1


def test_default_evaluate_and_predict_equal_one_step_per_call():
  x = _images(48)
  repeated = tf.data.Dataset.from_tensor_slices(x).batch(8).repeat()
  fast, plain = _digits_vae(), _digits_vae(steps_per_execution=1)
  for vae in (fast, plain):
    vae.build((None, 8, 8, 1))
  results = {}
  for name, vae in (("fast", fast), ("plain", plain)):
    vae.eval_seed = tf.constant([3, 4], tf.int64)
    vae.sample_noise = False
    results[name] = (vae.evaluate(repeated, steps=5, verbose=0,
                                  return_dict=True),
                     vae.evaluate(x, batch_size=8, verbose=0,
                                  return_dict=True),
                     vae.predict(repeated, steps=3, verbose=0))
  assert results["fast"][2].shape == results["plain"][2].shape == \
      (24, 8, 8, 1)
  for a, b in zip(results["fast"][:2], results["plain"][:2]):
    assert a.keys() == b.keys()
    for key in a:
      assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-6), key


def test_step_log_is_no_model_weight_and_old_files_still_load(tmp_path):
  """The log is bookkeeping: not in `weights` (nor `.keras` files); a file
  saved when it was a weight (two more values at the end) still loads."""
  import h5py  # pylint: disable=import-outside-toplevel
  vae = _digits_vae()
  vae.fit(_images(16), batch_size=8, epochs=1, verbose=0)
  log_ids = {id(v) for v in vae.step_log.variables()}
  assert not log_ids & {id(v) for v in vae.weights}
  assert len(vae.state_weights()) == len(vae.weights)
  path = str(tmp_path / "w.weights.h5")
  vae.save_weights(path)
  with h5py.File(path) as f:
    own = {key: np.asarray(f["vars"][key]) for key in f["vars"]}
  old = dict(own)
  old[str(len(own))] = np.arange(1, 51, dtype=np.int64)
  old[str(len(own) + 1)] = np.ones((50, len(vae.scalar_names)), np.float32)
  other = _digits_vae()
  other.build((None, 8, 8, 1))
  other.load_own_variables(old)
  mine = [w.numpy() for w in vae.weights if w.path.startswith("vae/")]
  theirs = [w.numpy() for w in other.weights if w.path.startswith("vae/")]
  assert len(mine) == len(theirs) == len(own) > 0
  for a, b in zip(mine, theirs):
    np.testing.assert_array_equal(a, b)
  with pytest.raises(ValueError):
    other.load_own_variables({**own, str(len(own)): np.zeros(3)})


@pytest.mark.parametrize("n,fit_args", [
    (100, {}),                                   # Keras' batch size 32
    (90, {"batch_size": 8, "validation_split": 0.2}),
    (64, {"batch_size": 16}),
])
def test_an_epoch_of_arrays_makes_one_iterator_and_the_same_batches(
    n, fit_args, monkeypatch):
  """fit on arrays passes the epoch's step count (and Keras' batch size) to
  Keras' loop, which then makes one data iterator an epoch, not two; the
  batches, shuffled, are Keras' own: the weights equal those of Keras' `fit`
  called without them, at the same steps per call."""
  import keras  # pylint: disable=import-outside-toplevel
  from tfvae.models import execution  # pylint: disable=import-outside-toplevel
  x = _images(n)
  made = []
  original = tf.data.Dataset.__iter__

  def counting_iter(self):
    made.append(1)
    return original(self)

  fast = _digits_vae()
  extra = execution.epoch_of_arrays(keras.Model.fit, fast, x, (), fit_args)
  assert extra["steps_per_epoch"] == len(range(
      0, int(n * (1 - fit_args.get("validation_split", 0))),
      fit_args.get("batch_size", 32)))
  assert ("batch_size" in extra) == ("batch_size" not in fit_args)
  monkeypatch.setattr(tf.data.Dataset, "__iter__", counting_iter)
  fast.fit(x, epochs=4, verbose=0, **fit_args)
  fast_iterators = len(made)
  plain = _digits_vae()
  plain.steps_per_execution = fast.steps_per_execution
  made.clear()
  keras.Model.fit(plain, x, epochs=4, verbose=0, **fit_args)
  assert int(fast.optimizer.iterations.numpy()) == int(
      plain.optimizer.iterations.numpy()) == 4 * extra["steps_per_epoch"]
  validation = 4 if fit_args.get("validation_split") else 0
  assert fast_iterators == 4 + 1 + validation * 2
  assert len(made) == 4 * 2 + validation * 2
  for a, b in zip(fast.state_weights(), plain.state_weights()):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert execution.epoch_of_arrays(keras.Model.fit, fast, x, (),
                                   {"steps_per_epoch": 3}) == {}
  data = tf.data.Dataset.from_tensor_slices(x).batch(8)
  assert execution.epoch_of_arrays(keras.Model.fit, fast, data, (), {}) == {}
  # batch_size given positionally (after y), or None by keyword.
  assert execution.epoch_of_arrays(keras.Model.fit, fast, x, (None, 10),
                                   {}) == {"steps_per_epoch": math.ceil(n / 10)}
  assert execution.epoch_of_arrays(keras.Model.fit, fast, x, (),
                                   {"batch_size": None}) == {
                                       "steps_per_epoch": math.ceil(n / 32),
                                       "batch_size": 32}
  assert execution.epoch_of_arrays(keras.Model.fit, fast, x, (None, None),
                                   {}) == {}
