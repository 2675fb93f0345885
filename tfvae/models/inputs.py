"""Checks of the data and the networks a model is given, before any training step.

Data preparation lives beside the model, not in it: `VAE.fit`,
`VAE.evaluate` and `tfvae.evaluate` call `check_data` on what they are given,
and `BaseVAE.build` calls `encoder_output_error` / `warn_sigmoid_decoder`
about the networks. Every problem is one exception that names the argument
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
