"""Subprocess side of tests/test_distribute.py (run as a script, prints JSON).

Each command runs in a fresh process because logical-device configuration,
the mixed-precision policy and multi-worker collectives are process-global.

    python tests/distribute_checks.py mirrored LOGDIR
    python tests/distribute_checks.py mirrored_run LOGDIR
    python tests/distribute_checks.py xla
    python tests/distribute_checks.py mixed LOGDIR
    python tests/distribute_checks.py worker INDEX OUT.npz   (reads TF_CONFIG)
    python tests/distribute_checks.py single OUT.npz

The last line of stdout is a JSON object of measured differences; the test
asserts on them.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # pylint: disable=wrong-import-position

BATCH = 16
# Plain SGD: unlike Adam (whose first step is ~lr * sign(g)), its update is
# proportional to the gradient, so a wrongly scaled loss shows in the weights.
SGD_LEARNING_RATE = 1e-3
MULTI_WORKER_STEPS = 3


def small_config(**overrides):
  from tfvae.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
  # One step per call: the comparisons count steps exactly. Float32: they
  # compare float32 arithmetic at 1e-5 (bfloat16 has checks of its own).
  values = dict(hidden_units=32, latent_dim=4, batch_size=BATCH,
                likelihood="gaussian", sigma="learned", steps_per_execution=1,
                mixed_precision="none")
  values.update(overrides)
  return ExperimentConfig.from_flat(**values).validate()


def digits_batch(n=BATCH, side=8):
  """Real digits (8x8) or digits upsampled to side x side, in [0, 1]."""
  from sklearn import datasets  # pylint: disable=import-outside-toplevel
  images = datasets.load_digits().images[:n].astype(np.float32) / 16.0
  images = np.kron(images, np.ones((side // 8, side // 8), np.float32))
  return images[..., None]


def build(config, image_shape, strategy, optimizer):
  """The model of `config` compiled with `optimizer` ("sgd" or "adam")."""
  import keras  # pylint: disable=import-outside-toplevel
  from tfvae.models.factory import build_model  # pylint: disable=import-outside-toplevel
  from tfvae.training import trainer  # pylint: disable=import-outside-toplevel
  if optimizer == "adam":
    return trainer.build_compiled_model(config, image_shape, strategy)
  with strategy.scope():
    model = build_model(config, image_shape)
    model.compile(optimizer=keras.optimizers.SGD(SGD_LEARNING_RATE),
                  jit_compile=config.runtime.jit_compile)
  return model


def snapshot(model, history=None):
  """Weights, every non-trainable variable and the logged values."""
  # Weights by position: Keras numbers layer names per process.
  state = {f"weight:{i}": np.asarray(v.numpy())
           for i, v in enumerate(model.trainable_variables)}
  state.update({f"state:{v.path}": np.asarray(v.numpy())
                for v in model.non_trainable_variables
                if not v.path.startswith(("adam", "sgd"))})
  for name, variable in model.last_batch.items():
    state[f"last:{name}"] = np.asarray(variable.numpy())
  for name, values in (history or {}).items():
    state[f"history:{name}"] = np.asarray(values[-1])
  return state


def max_differences(a, b):
  """Largest absolute and relative differences per kind of entry."""
  assert set(a) == set(b), sorted(set(a) ^ set(b))
  out = {}
  for key in a:
    kind = key.split(":")[0]
    first = np.asarray(a[key], np.float64)
    diff = np.abs(first - np.asarray(b[key], np.float64))
    rel = diff / np.maximum(1.0, np.abs(first))
    out[kind] = max(out.get(kind, 0.0), float(np.max(diff)))
    out[kind + "_rel"] = max(out.get(kind + "_rel", 0.0), float(np.max(rel)))
  return out


def train_steps(config, x, strategy, optimizer, steps, noise=True):
  import keras  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  keras.utils.set_random_seed(config.training.seed)
  model = build(config, x.shape[1:], strategy, optimizer)
  model.sample_noise = noise
  data = tf.data.Dataset.from_tensors(x).repeat()
  history = model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
  return model, snapshot(model, history.history)


# ------------------------------------------------------------------ commands


def mirrored(logdir):
  """Default strategy vs MirroredStrategy over two logical CPUs, same batch."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  from tfvae.objectives import elbo  # pylint: disable=import-outside-toplevel
  from tfvae.training import distribute  # pylint: disable=import-outside-toplevel
  strategy = distribute.make_strategy(small_config(strategy="mirrored"))
  default = tf.distribute.get_strategy()
  x = digits_batch()
  cases = {
      "reference": (small_config(model="reference"), "sgd"),
      "learned_sigma": (small_config(), "sgd"),
      "geco": (small_config(balancer="geco", geco_target=0.05), "sgd"),
      "geco_adam": (small_config(balancer="geco", geco_target=0.05), "adam"),
      "optimal_sigma": (small_config(sigma="optimal"), "sgd"),
  }
  result = {"replicas": strategy.num_replicas_in_sync}
  for name, (config, optimizer) in cases.items():
    _, one = train_steps(config, x, default, optimizer, steps=2)
    _, two = train_steps(config, x, strategy, optimizer, steps=2)
    result[name] = max_differences(one, two)
    result[name]["geco_lambda"] = [float(one.get("last:geco_lambda", 0)),
                                   float(two.get("last:geco_lambda", 0))]
  # The whole trainer on two replicas (one step per call there, see
  # `trainer.requested_steps_per_execution`), sharing the strategy above.
  from tfvae.training import trainer  # pylint: disable=import-outside-toplevel
  assert distribute.make_strategy(small_config(strategy="mirrored")) is strategy
  final = trainer.train(
      small_config(strategy="mirrored", steps=20, eval_every=10,
                   logdir=os.path.join(logdir, "mirrored_run"), verbose=0,
                   steps_per_execution=10), print_fn=lambda *a: None)
  result["trainer"] = {"step": final["step"], "neg_elbo": final["neg_elbo"],
                       "steps_per_execution":
                           trainer.requested_steps_per_execution(
                               small_config(steps_per_execution=0),
                               strategy)}
  # In bfloat16: the evaluation scores a float32 copy given the replicas'
  # (mirrored) weights.
  final = trainer.train(
      small_config(strategy="mirrored", steps=20, eval_every=10,
                   logdir=os.path.join(logdir, "mirrored_bf16"), verbose=0,
                   mixed_precision="mixed_bfloat16"), print_fn=lambda *a: None)
  result["trainer_bfloat16"] = {"step": final["step"],
                                "neg_elbo": final["neg_elbo"],
                                "precision": final["mixed_precision"]}
  # Negative control: the classic bug (a plain batch mean per replica) must
  # be caught by the same comparison.
  elbo.average_over_batch = tf.reduce_mean
  config = small_config()
  _, one = train_steps(config, x, default, "sgd", steps=2)
  _, two = train_steps(config, x, strategy, "sgd", steps=2)
  result["plain_mean_control"] = max_differences(one, two)
  return result


def mirrored_run(logdir):
  """The whole trainer, default vs --strategy=mirrored (2 logical CPUs).

  Same seed, 50 steps: the final weights must agree (both runs must consume
  the same global batches in the same order).
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  from tfvae.training import trainer  # pylint: disable=import-outside-toplevel
  result = {}
  for name, overrides in (("reference", dict(model="reference")),
                          ("learned_sigma", dict(sigma="learned"))):
    weights = {}
    for strategy in ("default", "mirrored"):
      path = os.path.join(logdir, f"{name}_{strategy}")
      trainer.train(small_config(
          strategy=strategy, steps=50, eval_every=50, checkpoint_every=50,
          batch_size=32, seed=4, verbose=0, logdir=path,
          steps_per_execution=0, **overrides), print_fn=lambda *a: None)
      reader = tf.train.load_checkpoint(os.path.join(path, "checkpoints",
                                                     "ckpt-50"))
      weights[strategy] = {
          k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if "_trainable_variables" in k}
    one, two = weights["default"], weights["mirrored"]
    assert sorted(one) == sorted(two) and one
    result[name] = {"weight": max(float(np.max(np.abs(one[k] - two[k])))
                                  for k in one),
                    "weight_scale": max(float(np.max(np.abs(one[k])))
                                        for k in one)}
  return result


def xla():
  """The same batch through a step with jit_compile on and off."""
  x8, x28 = digits_batch(), digits_batch(side=32)[:, 2:30, 2:30]
  cases = {
      "reference": (small_config(model="reference"), x8),
      "learned_sigma_mlp": (small_config(), x8),
      "learned_sigma_conv": (small_config(architecture="conv"), x28),
      "geco": (small_config(balancer="geco", geco_target=0.05), x8),
  }
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  result = {}
  for name, (config, x) in cases.items():
    snapshots = []
    for jit in (False, True):
      config.runtime.jit_compile = jit
      _, state = train_steps(config, x, tf.distribute.get_strategy(), "adam",
                             steps=1)
      snapshots.append(state)
    result[name] = max_differences(*snapshots)
    result[name]["loss"] = [float(s["last:loss"]) for s in snapshots]
  return result


def mixed(logdir):
  """mixed_bfloat16 trains with float32 likelihood math and finite values."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from tfvae import precision  # pylint: disable=import-outside-toplevel
  from tfvae.training import trainer  # pylint: disable=import-outside-toplevel
  x = digits_batch(side=32)[:, 2:30, 2:30]
  config = small_config(architecture="conv")
  _, reference = train_steps(config, x, tf.distribute.get_strategy(), "adam",
                             steps=5)
  precision.set_policy("mixed_bfloat16")
  config = small_config(architecture="conv", mixed_precision="mixed_bfloat16")
  model, state = train_steps(config, x, tf.distribute.get_strategy(), "adam",
                             steps=5)
  terms = model.compute_terms(tf.constant(x), training=False)
  params = model.decode_params(terms["z_mean"])
  nll = model.likelihood.nll(tf.constant(x), params)
  result = {
      "layer_compute_dtypes": sorted({layer.compute_dtype for layer in
                                      model.encoder.layers[1:] +
                                      model.decoder.layers[1:]}),
      "variable_dtypes": sorted({str(v.dtype) for v in model.weights
                                 if "float" in str(v.dtype)}),
      "term_dtypes": sorted({t.dtype.name for t in terms.values()
                             if hasattr(t, "dtype")}),
      "params_dtype": params.dtype.name,
      "nll_dtype": nll.dtype.name,
      "all_finite": bool(all(np.all(np.isfinite(v)) for v in state.values())),
      "loss_float32": float(reference["last:loss"]),
      "loss_bfloat16": float(state["last:loss"]),
  }
  # float16 gets Keras' dynamic loss scaling (the train step scales the loss).
  precision.set_policy("mixed_float16")
  config = small_config(mixed_precision="mixed_float16")
  model16, state16 = train_steps(config, digits_batch(),
                                 tf.distribute.get_strategy(), "adam", steps=3)
  result["float16_loss_scaled"] = type(model16.optimizer).__name__
  result["float16_finite"] = bool(all(np.all(np.isfinite(v))
                                      for v in state16.values()))
  precision.set_policy("mixed_bfloat16")
  # The whole run (pipeline, evaluation, checkpoints) under the policy.
  from tfvae.config import ExperimentConfig  # pylint: disable=import-outside-toplevel
  final = trainer.train(ExperimentConfig.from_flat(
      steps=20, eval_every=10, logdir=logdir, overwrite=True, verbose=0,
      mixed_precision="mixed_bfloat16", architecture="mlp", hidden_units=32),
                        print_fn=lambda *a: None)
  result["train_final"] = {k: final[k] for k in ("neg_elbo", "rate",
                                                 "distortion")}
  return result


def worker_config():
  return small_config(strategy="multi_worker", batch_size=2 * BATCH)


def worker(index, out):
  """One worker of a two-worker MultiWorkerMirroredStrategy run.

  Worker i trains on rows [i B, (i + 1) B) of a fixed global batch of 2 B
  (its own shard, via the strategy's `distribute_datasets_from_function`),
  so weights only agree, and equal one device's, if gradients are all-reduced
  and the loss is scaled by the global batch.
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from tfvae.training import distribute  # pylint: disable=import-outside-toplevel
  config = worker_config()
  strategy = distribute.make_strategy(config)
  x = digits_batch(2 * BATCH)

  def shard(context):
    rows = x[context.input_pipeline_id * BATCH:
             (context.input_pipeline_id + 1) * BATCH]
    return tf.data.Dataset.from_tensors(rows).repeat()

  import keras  # pylint: disable=import-outside-toplevel
  keras.utils.set_random_seed(config.training.seed)
  model = build(config, x.shape[1:], strategy, "sgd")
  data = strategy.distribute_datasets_from_function(shard)
  history = model.fit(data, epochs=1, steps_per_epoch=MULTI_WORKER_STEPS,
                      verbose=0)
  state = snapshot(model, history.history)
  np.savez(out, **state)
  return {"worker": index, "replicas": strategy.num_replicas_in_sync,
          "steps": int(model.optimizer.iterations.numpy())}


def single(out):
  """The two-worker run's global batch on one device."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  config = worker_config()
  config.runtime.strategy = "default"
  _, state = train_steps(config, digits_batch(2 * BATCH),
                         tf.distribute.get_strategy(), "sgd",
                         steps=MULTI_WORKER_STEPS)
  np.savez(out, **state)
  return {"steps": MULTI_WORKER_STEPS}


def main(argv):
  command, args = argv[1], argv[2:]
  if command == "worker":
    result = worker(int(args[0]), args[1])
  else:
    result = {"mirrored": mirrored, "mirrored_run": mirrored_run, "xla": xla,
              "mixed": mixed,
              "single": single}[command](*args)
  print(json.dumps(result))


if __name__ == "__main__":
  main(sys.argv)
