"""The serving graph of an image VAE: the `tf.function`s a SavedModel holds.

`build_serving_module(model, uint8_scale)` returns a `tf.Module` with the
signatures `tfvae.export.saved_model` documents (encode, decode, reconstruct,
sample, elbo and their uint8 forms); the pieces (`log_likelihood`,
`elbo_scores` with common random numbers, `fresh_normal`,
`captured_variables`) serve the sentence VAE's graph too
(`tfvae.export.sequence`).
"""

import tensorflow as tf

from tfvae.objectives import elbo
from tfvae.objectives import kl as kl_lib

ELBO_SAMPLES = 16
ELBO_SEED = (20170, 1312)


def log_likelihood(model, x, z):
  """log p(x|z) per example as served.

  A `VAE` uses its likelihood without the batch (`--sigma=optimal` then takes
  the stored sigma of the last training batch instead of this batch's MSE);
  other models (the reference port) use their own `log_likelihood`.
  """
  likelihood = getattr(model, "likelihood", None)
  if likelihood is None:
    return model.log_likelihood(x, z)
  return likelihood.served_log_likelihood(x, model.decode_params(z))


def elbo_epsilon(latent_dim, num_samples=ELBO_SAMPLES, seed=ELBO_SEED):
  """The fixed standard-normal draws [S, J] shared by every example."""
  return tf.random.stateless_normal([num_samples, latent_dim],
                                    seed=tf.constant(seed, tf.int64))


def elbo_scores(model, x, num_samples=ELBO_SAMPLES, seed=ELBO_SEED):
  """Per-example neg_elbo, rate, distortion, bits_per_dim (see module doc)."""
  x = tf.cast(x, tf.float32)
  z_mean, z_log_variance = model.encode(x)
  rate = tf.reduce_sum(kl_lib.gaussian_kl(z_mean, z_log_variance), axis=-1)
  epsilon = elbo_epsilon(model.latent_dim, num_samples, seed)

  def sample_log_likelihood(eps):
    return log_likelihood(model, x, kl_lib.reparameterize(
        z_mean, z_log_variance, eps[None, :]))

  log_liks = tf.map_fn(sample_log_likelihood, epsilon,
                       fn_output_signature=tf.TensorSpec([None], tf.float32))
  distortion = -tf.reduce_mean(log_liks, axis=0)
  neg_elbo = elbo.neg_elbo(distortion, rate)
  return {
      "neg_elbo": neg_elbo,
      "rate": rate,
      "distortion": distortion,
      "bits_per_dim": elbo.bits_per_dim(neg_elbo, model.num_features),
  }


def fresh_normal(shape):
  """Standard normal noise seeded afresh by each server process.

  `tf.random.normal` traced under a global seed (training sets one) would
  store that seed in the graph, and every server start would then replay the
  same "random" samples; seed = seed2 = 0 asks the kernel for a random seed.
  """
  return tf.raw_ops.RandomStandardNormal(shape=shape, dtype=tf.float32, seed=0,
                                         seed2=0)


def decode_outputs(model, z):
  """Mean and parameters of p(x|z) (every model exposes `params`)."""
  out = dict(model.decode_distribution_params(z))
  out.setdefault("params", model.decode_params(z))
  return {name: tf.cast(value, tf.float32) for name, value in out.items()}


def build_serving_module(model, uint8_scale=None):
  """A `tf.Module` whose `tf.function`s are the serving endpoints.

  Returns (module, signatures dict name -> concrete function).
  """
  # Long: the signatures are closures over one model and its input spec.
  shape = [None, *model.image_shape]
  latent = model.latent_dim
  x_spec = tf.TensorSpec(shape, tf.float32, name="x")
  module = tf.Module(name="tfvae_serving")

  # Signatures fix dtype and rank, but a concrete function called with another
  # shape fails deep inside the network; check it first and name it.
  def checked(x):
    return tf.ensure_shape(x, shape, name="check_input_shape")

  def encode(x):
    z_mean, z_log_variance = model.encode(checked(x))
    z = kl_lib.reparameterize(z_mean, z_log_variance,
                              fresh_normal(tf.shape(z_mean)))
    return {"z_mean": z_mean, "z_log_variance": z_log_variance, "z": z}

  def reconstruct(x):
    z_mean, _ = model.encode(checked(x))
    return {"reconstruction": tf.cast(model.decode_mean(z_mean), tf.float32)}

  def elbo(x):
    return elbo_scores(model, checked(x))

  float_fns = {"encode": encode, "reconstruct": reconstruct, "elbo": elbo}
  endpoints = {name: tf.function(fn, input_signature=[x_spec], autograph=False)
               for name, fn in float_fns.items()}

  @tf.function(input_signature=[tf.TensorSpec([None, latent], tf.float32,
                                              name="z")], autograph=False)
  def decode(z):
    return decode_outputs(model, tf.ensure_shape(z, [None, latent],
                                                 name="check_input_shape"))

  @tf.function(input_signature=[tf.TensorSpec([], tf.int32,
                                              name="num_samples")],
               autograph=False)
  def sample(num_samples):
    check = tf.debugging.assert_non_negative(
        num_samples, message="num_samples must be >= 0")
    with tf.control_dependencies([check]):
      z = fresh_normal(tf.stack([num_samples, latent]))
    return {"images": tf.cast(model.decode_mean(z), tf.float32), "z": z}

  endpoints["decode"] = decode
  endpoints["sample"] = sample

  if uint8_scale is not None:
    u8_spec = tf.TensorSpec(shape, tf.uint8, name="x")
    scale = float(uint8_scale)
    for name, fn in float_fns.items():
      endpoints[f"{name}_uint8"] = tf.function(
          _scaled_input(fn, scale), input_signature=[u8_spec], autograph=False)

  for name, fn in endpoints.items():
    setattr(module, name, fn)
  signatures = {name: fn.get_concrete_function()
                for name, fn in endpoints.items()}
  module.model_variables = captured_variables(signatures.values())
  signatures["serving_default"] = signatures["encode"]
  return module, signatures


def captured_variables(concrete_functions):
  """The `tf.Variable`s the traced endpoints read, each once, in trace order.

  Only these are saved (no optimizer, no metrics). They must be the plain
  `tf.Variable`s the graphs captured, not the Keras 3 `keras.Variable`
  wrappers around them (`model.weights`): a wrapper is saved as its own
  object, so the SavedModel's TF1 view (the MetaGraph's variable ops and the
  saver's restore ops, which `saved_model_cli run`, `tf.compat.v1` session
  loading and TF Serving's C++ loader use) has no op for the captured
  resource, and every signature fails there with "Could not find variable".
  `tf.saved_model.load` maps captures through the object graph and worked
  either way. Keras's own `ExportArchive` tracks the captured variables for
  the same reason.
  """
  variables, seen = [], set()
  for function in concrete_functions:
    for variable in function.variables:
      if id(variable) not in seen:
        seen.add(id(variable))
        variables.append(variable)
  return variables


def _scaled_input(fn, scale):
  """fn on raw integer inputs: x -> fn(float(x) * scale)."""
  def scaled(x):
    return fn(tf.cast(x, tf.float32) * scale)
  return scaled


