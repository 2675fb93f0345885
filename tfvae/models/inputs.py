"""Checks of the data and the networks a model is given, before any training step.

Data preparation lives beside the model, not in it: `VAE.fit`,
`VAE.evaluate` and `tfvae.evaluate` call `check_data` on what they are given,
and `BaseVAE.build` checks the networks' outputs here (`output_spec`,
`split_posterior`, `warn_sigmoid_decoder`). Every problem is one exception that names the argument
(`x`, `validation_data`, `data`, `encoder`, `decoder`) and says what to do:

- empty data (an array with no examples, a `tf.data.Dataset` without a
  first batch);
- NaN or infinite values;
- values outside the likelihood's support (`Likelihood.check_data`, which
  knows the likely fix);
- validation data whose event shape differs from the training data's.

An array is checked whole; a `tf.data.Dataset` by its first batch (its
later batches are not read ahead of training: a non-finite loss later on
is what `tfvae.callbacks.NonFiniteGuard` stops). Other inputs (Python
generators, `keras.utils.PyDataset`) are passed to Keras unchecked.
"""

import warnings

import keras
import numpy as np
import tensorflow as tf

from tfvae.errors import DataError

# Layers that only move values around: a sigmoid before them is still the
# decoder's last activation.
_SHAPE_LAYERS = (keras.layers.Reshape, keras.layers.Flatten,
                 keras.layers.Permute, keras.layers.Cropping1D,
                 keras.layers.Cropping2D, keras.layers.Cropping3D)


def examples(data):
  """x of an (x, ...) element, batch or tuple of arrays."""
  return data[0] if isinstance(data, (tuple, list)) else data


def _error(argument, message):
  return DataError(f"{argument}: {message}", params=(argument,))


def first_values(data, argument="x"):
  """The values to check, as a float32 numpy array [N] + event shape.

  All of an array; the first batch of a `tf.data.Dataset`; None for input
  types that cannot be read ahead (generators, `PyDataset`).

  Raises:
    DataError: the data are empty, or not numeric.
  """
  if data is None:
    return None
  if isinstance(data, tf.data.Dataset):
    try:
      batch = next(iter(data.take(1)))
    except StopIteration:
      raise _error(argument, "the tf.data.Dataset is empty (it has no first "
                   "batch); check its source and filters") from None
    values = examples(batch)
    if isinstance(values, dict):
      raise _error(argument, "a tf.data.Dataset of dicts is not supported; "
                   "map it to x or (x, ...) batches")
    values = np.asarray(values)
    if values.ndim < 1 or values.shape[0] == 0:
      raise _error(argument, f"the first batch of the tf.data.Dataset is "
                   f"empty (shape {values.shape})")
  else:
    values = examples(data)
    if not isinstance(values, (np.ndarray, tf.Tensor, list, tuple)) and \
        not hasattr(values, "__array__"):
      return None
    values = np.asarray(values)
    if values.size == 0 or values.ndim == 0 or values.shape[0] == 0:
      raise _error(argument, f"no examples to train or evaluate on (shape "
                   f"{values.shape}); pass an array [N, ...] with N >= 1")
  if values.dtype.kind not in "biuf":
    raise _error(argument, f"expected numbers, got dtype {values.dtype}")
  return values.astype(np.float32, copy=False)


def check_finite(values, argument="x"):
  """DataError naming `argument` when `values` hold NaN or infinity."""
  finite = np.isfinite(values)
  if not finite.all():
    bad = int(values.size - np.count_nonzero(finite))
    raise _error(argument, f"{bad} of {values.size} values are NaN or "
                 "infinite; remove or impute them before training")


def check_same_event_shape(train_values, validation_values,
                           argument="validation_data"):
  """DataError when validation examples differ in shape from training ones."""
  want, got = tuple(train_values.shape[1:]), tuple(validation_values.shape[1:])
  if want != got:
    raise _error(argument, f"examples of shape {list(got)}, but the training "
                 f"data (and the model) have examples of shape {list(want)}")


def check_data(likelihood, x, validation_data=None, argument="x",
               event_shape=None):
  """Checks training (and validation) data before the first step.

  Args:
    likelihood: the model's `Likelihood`, or None (its support unchecked).
    x: an array [N, ...], an (x, ...) tuple, a `tf.data.Dataset`, or
      another input Keras accepts (then unchecked).
    validation_data: the same kinds, or None.
    argument: the name of `x` in the caller's signature.
    event_shape: the shape of one example the model was built for, if built.

  Returns:
    The checked values of `x` (None when unreadable).

  Raises:
    DataError (a ValueError) naming `argument` or `validation_data`.
  """
  values = first_values(x, argument)
  checked = []
  if values is not None:
    if event_shape is not None:
      if tuple(values.shape[1:]) != tuple(event_shape):
        raise _error(argument, f"examples of shape {list(values.shape[1:])}, "
                     f"but the model was built for {list(event_shape)}")
    checked.append((values, argument))
  if validation_data is not None:
    validation = first_values(validation_data, "validation_data")
    if validation is not None:
      reference = values if values is not None else (
          np.zeros((1,) + tuple(event_shape)) if event_shape else None)
      if reference is not None:
        check_same_event_shape(reference, validation)
      checked.append((validation, "validation_data"))
  for array, name in checked:
    check_finite(array, name)
  if likelihood is not None:
    for array, name in checked:
      for warning in likelihood.check_data(array, name) or ():
        warnings.warn(warning, stacklevel=3)
  return values


# ------------------------------------------------------------------ networks


def latent_width(net):
  """The width of z a decoder takes (its declared input), or None."""
  inputs = getattr(net, "inputs", None)
  try:
    if inputs and len(inputs) == 1 and len(inputs[0].shape) == 2:
      return inputs[0].shape[-1]
  except (AttributeError, TypeError, ValueError):
    pass
  return None


def _last_activation_layer(net):
  """The last layer of a Keras model that is not a pure shape change."""
  layers = list(getattr(net, "layers", None) or [])
  for layer in reversed(layers):
    if isinstance(layer, keras.layers.InputLayer):
      continue
    if isinstance(layer, _SHAPE_LAYERS):
      continue
    if getattr(layer, "layers", None):
      return _last_activation_layer(layer)
    return layer
  return net


def ends_in_sigmoid(net):
  """True when a decoder's last activation is a sigmoid."""
  layer = _last_activation_layer(net)
  activation = getattr(layer, "activation", None)
  return activation is keras.activations.sigmoid or getattr(
      activation, "__name__", "") == "sigmoid"


def warn_sigmoid_decoder(decoder, likelihood):
  """Warns (naming `decoder`) when a decoder ends in a sigmoid while the
  likelihood takes logits or unbounded parameters (a second squashing)."""
  if likelihood is None or not getattr(likelihood, "logit_params", False):
    return
  if ends_in_sigmoid(decoder):
    warnings.warn(
        f"decoder: its last layer applies a sigmoid, but "
        f"{type(likelihood).__name__} takes logits (it applies the sigmoid "
        "itself); remove the decoder's final sigmoid activation",
        stacklevel=4)


def check_type(name, value, cls):
  """TypeError naming the argument when `value` is not a `cls`."""
  if not isinstance(value, cls):
    raise TypeError(f"{name} must be a {cls.__module__}.{cls.__name__}, got "
                    f"{type(value).__name__}")


def widths(outputs):
  """The last-axis widths of an encoder's output(s), for messages."""
  if isinstance(outputs, dict):
    outputs = list(outputs.values())
  if isinstance(outputs, (list, tuple)):
    return "widths " + ", ".join(str(o.shape[-1]) for o in outputs)
  return f"width {outputs.shape[-1]}"


def output_spec(net, tensor, name, what):
  """The network's symbolic output; a ValueError naming `name` if it cannot
  take `tensor`."""
  try:
    return net.compute_output_spec(tensor)
  except Exception as e:  # pylint: disable=broad-except
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    raise ValueError(f"{name} cannot take {what}: {first[:300]}") from e


def split_posterior(outputs):
  """(mean, log_variance) from an encoder's output: a pair, one tensor
  [batch, 2 J] (mean first), or the Keras VAE example's (mean, log_var, z).

  Raises:
    ValueError naming `encoder` for any other output.
  """
  if isinstance(outputs, dict):
    outputs = list(outputs.values())
  if isinstance(outputs, (list, tuple)):
    if len(outputs) == 3 and tuple(outputs[2].shape) == tuple(
        outputs[0].shape):
      # tfvae draws its own sample (seeded, replica-aware): z is unused.
      outputs = outputs[:2]
    if len(outputs) == 1:
      outputs = outputs[0]
    elif len(outputs) == 2:
      mean, log_variance = outputs
      if (len(mean.shape) != 2 or tuple(mean.shape[1:]) !=
          tuple(log_variance.shape[1:])):
        raise ValueError(
            "encoder must return (mean, log_variance) of equal shape "
            f"[batch, latent_dim], got shapes {mean.shape} and "
            f"{log_variance.shape}")
      return mean, log_variance
    else:
      raise ValueError(
          "encoder must return (mean, log_variance) or one tensor of "
          f"shape [batch, 2 * latent_dim], got {len(outputs)} outputs")
  shape = getattr(outputs, "shape", None)
  if shape is None or len(shape) != 2 or shape[-1] is None or \
      shape[-1] % 2 or shape[-1] < 2:
    raise ValueError(
        "encoder must return (mean, log_variance) or one tensor of shape "
        f"[batch, 2 * latent_dim], got shape {shape}")
  half = shape[-1] // 2
  return outputs[:, :half], outputs[:, half:]


def check_sample_args(n, seed):
  """ValueError naming `n` or `seed` for `sample(n, seed)`."""
  if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
    raise ValueError(f"n must be an integer >= 1, got {n!r}")
  if seed is not None and (
      isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
      or not 0 <= seed < 2**31):
    raise ValueError(f"seed must be None or an integer in [0, 2^31), got "
                     f"{seed!r}")


def event_shape(x):
  """The shape of one example of an array or a `tf.data.Dataset`."""
  if isinstance(x, tf.data.Dataset):
    return tuple(examples(x.element_spec).shape)[1:]
  return tuple(np.shape(examples(x)))[1:]


def check_encoder(encoder, decoder, event_shape):
  """(latent size J, the encoder's symbolic output) for events of
  `event_shape`; ValueError naming `encoder` when its output does not give
  (mean, log_variance) of the decoder's input width."""
  x = keras.KerasTensor((None,) + tuple(event_shape), "float32")
  shape_text = ", ".join(map(str, event_shape))
  encoded = output_spec(encoder, x, "encoder",
                        f"x of shape [batch, {shape_text}]")
  width = latent_width(decoder)
  try:
    mean, _ = split_posterior(encoded)
    latent_dim = int(mean.shape[-1])
  except ValueError:
    if width is None:
      raise
    latent_dim = None
  if width is not None and width != latent_dim:
    raise ValueError(
        f"encoder must return (mean, log_variance) of width {width} each, "
        f"or one tensor of width {2 * width} (mean first), for the "
        f"decoder's input z of width {width}; it returns "
        f"{widths(encoded)}")
  return latent_dim, encoded


def check_decoder(decoder, latent_dim, encoded, expected, event_shape):
  """ValueError naming `decoder` unless it maps z [batch, latent_dim] to
  parameters of shape [batch] + `expected`."""
  z = keras.KerasTensor((None, latent_dim), "float32")
  params = output_spec(decoder, z, "decoder",
                       f"z of shape [batch, {latent_dim}] (the "
                       f"encoder returns {widths(encoded)})")
  got = getattr(params, "shape", None)
  if got is None or tuple(got[1:]) != tuple(expected):
    raise ValueError(
        f"decoder must map z of shape [batch, {latent_dim}] to "
        f"likelihood parameters of shape [batch, "
        f"{', '.join(map(str, expected))}] for events of shape "
        f"{list(event_shape)}, got {got}")
