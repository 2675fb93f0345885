"""Keras plumbing shared by tfvae's models.

A model only has to implement `compute_terms(x, training)`, which returns the
optimised loss and the true per-example quantities (distortion, rate) plus any
scalars to log. This base class turns that into `train_step` / `test_step`,
tracks every logged number under its own name (Keras 3 shadows a returned
`loss` key, see references §9), and keeps the values of the *last batch* in
non-trainable variables so TensorBoard logs per-step batch values while the
progress bar shows Keras' running means of the same numbers.

Beside it: the per-step log of a multi-step call (`step_log`), the data and
network checks (`inputs`), the steps per call (`execution`) and the
XLA-stable training noise (`tfvae.objectives.seeds.philox_normal`).
"""

import keras
import numpy as np
import tensorflow as tf

from tfvae import precision
from tfvae.models import execution
from tfvae.models import inputs
from tfvae.models import saving
from tfvae.models import step_log as step_log_lib
from tfvae.objectives import elbo
from tfvae.objectives import kl as kl_lib
from tfvae.objectives import seeds
from tfvae.objectives.weighting import Weighting

# The weighting is plain Python (no Keras import there); registered here so a
# saved model's config names it.
keras.saving.register_keras_serializable(package="tfvae",
                                         name="Weighting")(Weighting)

# Every model logs these, whatever its weighting.
CORE_SCALARS = ("loss", "neg_elbo", "bits_per_dim", "rate", "distortion",
                "kl_weight", "beta_eff", "beta_norm")

# Kept under their names here for the models built on this class.
check_type = inputs.check_type
images_from_batch = inputs.examples


class BaseVAE(saving.KerasSaving, keras.Model):
  """Encoder, reparameterised sample, decoder and the logging machinery.

  Args:
    encoder: any Keras layer or model x -> posterior parameters: a pair
      (mean, log_variance) of shape [batch, J] each, or one tensor
      [batch, 2 J] (mean first, the usual Keras way); the Keras VAE
      example's (mean, log_variance, z) works too (z is not used).
    decoder: any Keras layer or model z -> likelihood parameters of shape
      [batch] + params_shape(event_shape).
    extra_scalars: names of logged scalars besides `CORE_SCALARS`.
    seed: seed of the training noise (a pure function of seed and step).
  """

  def __init__(self, encoder, decoder, extra_scalars=(), seed=0, **kwargs):
    super().__init__(**kwargs)
    for name, net in (("encoder", encoder), ("decoder", decoder)):
      if not callable(net):
        raise TypeError(f"{name} must be a Keras layer or model, got "
                        f"{type(net).__name__}")
    self.seed = int(seed)
    # False replaces the posterior sample by its mean (z = mean). With noise on,
    # N replicas already draw the noise one device would (`sample_posterior`).
    self.sample_noise = True
    # A stateless seed (shape [2]) for the test-time posterior sample, set by
    # the evaluation (`diagnostics.posterior_noise`); None: the global stream.
    self.eval_seed = None
    self.encoder = encoder
    self.decoder = decoder
    # Set by `build` from the first input: the event shape, its number of
    # features K and the latent size J.
    self.event_shape = None
    self.num_features = None
    self.latent_dim = None
    self.scalar_names = CORE_SCALARS + tuple(extra_scalars)
    self.trackers = {
        name: keras.metrics.Mean(name=name) for name in self.scalar_names}
    self.last_batch = {
        name: self.add_weight(shape=(), initializer="zeros", trainable=False,
                              name=f"last_{name}",
                              aggregation="only_first_replica")
        for name in self.scalar_names}
    # Every step's values of the last execution (`tfvae.models.step_log`),
    # made by `compile`.
    self.step_log = None
    # The steps per call tfvae chose in `compile` (None: the user's value,
    # kept) and the value in use: each `fit`, `evaluate` and `predict` may
    # lower it to divide its steps (`execution.steps_for_call`).
    self._auto_steps = None
    self._auto_steps_used = None
    self._in_fit = False

  @property
  def image_shape(self):
    """The event shape, under the name image exports use."""
    return self.event_shape

  # ------------------------------------------------------------ shapes

  def build(self, input_shape):
    """Fixes the event shape and checks the networks' outputs against it.

    Raises ValueError naming `encoder` or `decoder` when an output does not
    have the shape the model needs, before any training step.
    """
    if self.event_shape is not None:
      return
    event_shape = tuple(input_shape[1:])
    if not event_shape or any(d is None for d in event_shape):
      raise ValueError(f"x must have a fully known shape [batch, ...] with at "
                       f"least one feature axis, got {tuple(input_shape)}")
    self.event_shape = tuple(int(d) for d in event_shape)
    self.num_features = int(np.prod(self.event_shape))
    self.latent_dim, encoded = inputs.check_encoder(
        self.encoder, self.decoder, self.event_shape)
    self.build_likelihood(self.event_shape)
    inputs.warn_sigmoid_decoder(self.decoder,
                                getattr(self, "likelihood", None))
    inputs.check_decoder(self.decoder, self.latent_dim, encoded,
                         self.decoder_output_shape(self.event_shape),
                         self.event_shape)
    super().build(input_shape)

  # ------------------------------------------------------------ the data

  def prepare(self, x, validation_data=None, argument="x"):
    """Checks the data, resolves what depends on their range and builds the
    model from their shape: bad data and shape errors surface as one
    exception before training, and every variable exists before the
    optimizer is built.

    Raises:
      DataError (a ValueError) naming `argument` or `validation_data` for
      empty, non-finite or out-of-support data (`tfvae.models.inputs`), and
      ValueError naming `encoder` or `decoder` for networks whose outputs do
      not fit.
    """
    if x is None:
      return
    inputs.check_data(getattr(self, "likelihood", None), x, validation_data,
                      argument=argument, event_shape=self.event_shape)
    self.resolve_data_range(x)
    if not self.built:
      self.build((None,) + inputs.event_shape(x))

  def resolve_data_range(self, x):
    """Fixes settings that follow the data's range (subclasses)."""
    del x

  def fit(self, x=None, *args, **kwargs):  # pylint: disable=keyword-arg-before-vararg
    """Keras' `fit`, after `prepare` checked x and validation_data; tfvae's
    automatic steps per call divide the epoch (`execution.steps_for_call`),
    and an epoch of arrays gets its step count (`execution.epoch_of_arrays`:
    one data iterator an epoch instead of two)."""
    self.prepare(x, kwargs.get("validation_data"))
    self._choose_steps(keras.Model.fit, x, args, kwargs)
    if self._auto_steps is not None and \
        self.steps_per_execution == self._auto_steps_used:
      kwargs.update(execution.epoch_of_arrays(keras.Model.fit, self, x, args,
                                              kwargs))
    self._in_fit = True
    try:
      return super().fit(x, *args, **kwargs)
    finally:
      self._in_fit = False

  def evaluate(self, x=None, *args, **kwargs):  # pylint: disable=keyword-arg-before-vararg
    """Keras' `evaluate`, after `prepare` checked x."""
    self.prepare(x)
    self._choose_steps(keras.Model.evaluate, x, args, kwargs)
    return super().evaluate(x, *args, **kwargs)

  def predict(self, x, *args, **kwargs):
    self._choose_steps(keras.Model.predict, x, args, kwargs)
    return super().predict(x, *args, **kwargs)

  def _choose_steps(self, method, x, args, kwargs):
    """tfvae's automatic steps per call for this call of `method`; a user's
    value, or `fit`'s own validation pass, keeps the value in use. The
    step functions are rebuilt when it changes (at most the compiled value:
    the step log's rows)."""
    if self._auto_steps is None or self._in_fit or \
        self.steps_per_execution != self._auto_steps_used:
      return
    steps = execution.steps_for_call(self._auto_steps, method, self, x, args,
                                     kwargs)
    if steps != self.steps_per_execution:
      self.steps_per_execution = self._auto_steps_used = steps
      self.make_train_function(force=True)
      self.make_test_function(force=True)
      self.make_predict_function(force=True)

  def ensure_built(self, x):
    """Builds the model from a first batch when Keras has not (direct calls)."""
    if not self.built:
      self.build(tuple(x.shape))

  def build_likelihood(self, event_shape):
    """Creates variables that depend on the event shape (subclasses)."""
    del event_shape

  def decoder_output_shape(self, event_shape):
    """The decoder output shape per example that the model needs."""
    return tuple(event_shape)

  def _split_posterior(self, outputs):
    """(mean, log_variance) from an encoder's output (`inputs.split_posterior`)."""
    return inputs.split_posterior(outputs)

  # ------------------------------------------------------------ the model

  def encode(self, x, training=False):
    """Posterior parameters of q(z|x).

    Args:
      x: [B] + event shape.
      training: passed to the encoder.

    Returns:
      (mean, log_variance), each [B, J], float32.
    """
    z_mean, z_log_variance = inputs.split_posterior(
        self.encoder(x, training=training))
    return (tf.cast(z_mean, tf.float32), tf.cast(z_log_variance, tf.float32))

  def decode_params(self, z, training=False):
    """Unconstrained likelihood parameters, in float32 (likelihood math)."""
    return tf.cast(self.decoder(z, training=training), tf.float32)

  def reconstruct(self, x):
    """The mean of p(x|z) at z = the posterior mean (deterministic).

    Args:
      x: [B] + event shape.

    Returns:
      [B] + event shape, float32.
    """
    z_mean, _ = self.encode(x)
    return self.decode_mean(z_mean)

  def decode(self, z):
    """The mean of p(x|z) for latent codes z.

    Args:
      z: [B, J].

    Returns:
      [B] + event shape, float32.
    """
    return self.decode_mean(tf.convert_to_tensor(z, tf.float32))

  def sample(self, n, seed=None, mean=True):
    """New examples: z ~ N(0, I), then the decoder's mean or a draw of x.

    Args:
      n: the number of examples (int >= 1).
      seed: an int for reproducible samples (stateless), or None.
      mean: True returns the mean of p(x|z) (e.g. grey levels for a
        Bernoulli); False one draw x ~ p(x|z) (e.g. binary images).

    Returns:
      [n] + event shape, float32.

    Raises:
      ValueError: the model is not built yet (its latent size is unknown
        before `fit`, `build` or a first call).
    """
    inputs.check_sample_args(n, seed)
    if self.latent_dim is None:
      raise ValueError("sample needs a built model (its latent size): fit "
                       "it, load it, or call model.build((None, ...)) first")
    if seed is None:
      z = tf.random.normal([int(n), self.latent_dim])
      draw_seed = None
    else:
      # Two stateless streams of one seed (TFP's samplers take int32 seeds).
      z_seed = tf.constant([int(seed), 0], tf.int32)
      draw_seed = tf.constant([int(seed), 1], tf.int32)
      z = tf.random.stateless_normal([int(n), self.latent_dim], seed=z_seed)
    if mean:
      return self.decode_mean(z)
    return self.draw(z, draw_seed)

  def draw(self, z, seed=None):
    """One draw x ~ p(x|z) (subclasses); `seed` is stateless or None."""
    raise NotImplementedError

  def decode_mean(self, z):
    raise NotImplementedError

  def sample_posterior(self, z_mean, z_log_variance, training):
    """z ~ q(z|x); training noise is a pure function of (seed, global step).

    The training noise is drawn for the whole global batch, and each replica
    takes its own rows: replicas get independent noise, N replicas see the
    noise one device would, and XLA on and off draw the same noise
    (`seeds.philox_normal`).
    """
    if not self.sample_noise:
      return z_mean
    if not training:
      return kl_lib.sample_latent(z_mean, z_log_variance,
                                  stateless_seed=self.eval_seed)
    seed = tf.stack([tf.constant(self.seed, tf.int64),
                     tf.cast(self.optimizer.iterations, tf.int64)])
    local = tf.shape(z_mean)[0]
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1
    noise = seeds.philox_normal(
        tf.stack([local * replicas, tf.shape(z_mean)[1]]), seed, z_mean.dtype)
    if replicas > 1:
      start = tf.cast(context.replica_id_in_sync_group, tf.int32) * local
      noise = noise[start:start + local]
    return kl_lib.reparameterize(z_mean, z_log_variance, noise)

  def call(self, x, training=False):
    z_mean, z_log_variance = self.encode(x, training=training)
    z = kl_lib.sample_latent(z_mean, z_log_variance)
    return self.decode_mean(z)

  def compute_terms(self, x, training=False):
    """Returns a dict with at least `loss`, `distortion`, `rate` (per example),
    `kl_per_dim` [batch, J], `kl_weight`, `beta_eff`, `beta_norm`, and
    `updates`: a list of (variable, new value) applied after a training step."""
    raise NotImplementedError

  def own_trainable_variables(self):
    """Variables that a balancer trains itself (left out of the VAE update)."""
    return []

  def train_own(self, x, terms):
    """After the VAE update: a balancer's own training step (subclasses);
    returns extra scalars to log."""
    del x, terms
    return {}

  # ------------------------------------------------------- Keras plumbing

  @property
  def metrics(self):
    return list(self.trackers.values())

  def _scalars(self, terms):
    """The logged scalars of one batch (global-batch means)."""
    neg_elbo = elbo.neg_elbo(terms["distortion"], terms["rate"])
    scalars = {
        "loss": elbo.replica_sum(terms["loss"]),
        "neg_elbo": elbo.global_batch_mean(neg_elbo),
        "bits_per_dim": elbo.bits_per_dim(elbo.global_batch_mean(neg_elbo),
                                          self.num_features),
        "rate": elbo.global_batch_mean(terms["rate"]),
        "distortion": elbo.global_batch_mean(terms["distortion"]),
    }
    for name in self.scalar_names:
      if name not in scalars:
        scalars[name] = tf.cast(terms[name], tf.float32)
    return scalars

  def compile(self, *args, steps_per_execution="auto", **kwargs):
    """Keras' `compile` with the CLI's speed settings unless given:
    `steps_per_execution="auto"` (the default) runs
    `execution.default_steps_per_execution` steps per call (1 under several
    replicas; each `fit` lowers it to divide its epoch) and, unless given,
    `jit_compile=False`. Every step's values stay exact in `step_log`.
    """
    auto = steps_per_execution == "auto"
    if auto:
      steps_per_execution = execution.default_steps_per_execution(
          self.distribute_strategy)
      kwargs.setdefault("jit_compile", False)
    super().compile(*args, steps_per_execution=steps_per_execution, **kwargs)
    self._auto_steps = steps_per_execution if auto else None
    self._auto_steps_used = self._auto_steps
    self.step_log = step_log_lib.StepLog(
        self.scalar_names, self.steps_per_execution or 1,
        self.distribute_strategy)

  def state_weights(self):
    """The weights that define the model (networks, likelihood, balancer
    state): all its weights (the per-step log is bookkeeping, none of
    them)."""
    return list(self.weights)

  def read_step_log(self, after_step):
    """(steps, {name: values}) of the logged training steps > after_step.

    One host read for the whole execution; rows in step order. Empty when
    the model was never compiled.
    """
    if self.step_log is None:
      return step_log_lib.empty(self.scalar_names)
    return self.step_log.read(after_step)

  def _log_step(self, scalars):
    """Writes this training step's scalars into its row of `step_log`."""
    if self.step_log is not None:
      self.step_log.write(self.optimizer.iterations, scalars)

  def _record(self, terms, log_step=False):
    scalars = self._scalars(terms)
    for name, value in scalars.items():
      self.trackers[name].update_state(value)
      self.last_batch[name].assign(value)
    if log_step:
      self._log_step(scalars)
    logs = {name: tracker.result() for name, tracker in self.trackers.items()}
    if execution.is_multi_worker(self.distribute_strategy):
      # Keras 3 reduces a multi-worker step's outputs with
      # strategy.reduce(MEAN, axis=0), which rejects scalars (tensorflow
      # issue 72388): give each (replica-identical) value a batch axis of one.
      logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
    return logs

  def train_step(self, data):
    x = images_from_batch(data)
    with tf.GradientTape() as tape:
      terms = self.compute_terms(x, training=True)
      loss = terms["loss"]
      scaled_loss = self.optimizer.scale_loss(loss)
    own = {id(v) for v in self.own_trainable_variables()}
    variables = [v for v in self.trainable_variables if id(v) not in own]
    # 16-bit layers: sum bias gradients in float32 (TensorFlow's CPU kernel
    # sums them in bfloat16 and gets them wrong by tens of percent).
    with precision.accurate_bias_gradients():
      gradients = tape.gradient(scaled_loss, variables)
    self.optimizer.apply_gradients(zip(gradients, variables))
    for variable, value in terms.get("updates", ()):
      variable.assign(value)
    terms.update(self.train_own(x, terms) or {})
    return self._record(terms, log_step=True)

  def test_step(self, data):
    x = images_from_batch(data)
    terms = self.compute_terms(x, training=False)
    return self._record(terms)

  @property
  def global_step(self):
    return self.optimizer.iterations
