"""How a tfvae model saves and loads (`model.save("x.keras")`,
`keras.models.load_model`): its constructor's arguments as Keras configs, the
input shape `build` fixed, and the compile arguments, so a loaded model has
its variables (the optimiser's included) before Keras restores their values.
"""

import keras
import numpy as np


class KerasSaving:
  """Keras' serialisation hooks of `BaseVAE` (listed first among its bases,
  so that these methods run before `keras.Model`'s)."""

  # Constructor arguments that `get_config` stores as Keras objects.
  SERIALIZED_OBJECTS = ("encoder", "decoder")

  def get_config(self):
    """The constructor's arguments, for `model.save("x.keras")`: the
    networks as Keras configs, the seed and the base Layer's fields."""
    config = super().get_config()
    config.update(
        encoder=keras.saving.serialize_keras_object(self.encoder),
        decoder=keras.saving.serialize_keras_object(self.decoder),
        seed=self.seed)
    return config

  @classmethod
  def from_config(cls, config, custom_objects=None):
    config = dict(config)
    for key in cls.SERIALIZED_OBJECTS:
      if isinstance(config.get(key), dict):
        config[key] = keras.saving.deserialize_keras_object(
            config[key], custom_objects=custom_objects)
    return cls(**config)

  def get_build_config(self):
    """The input shape `build` fixed, so a loaded model is built (and its
    variables exist) before Keras restores their values."""
    if self.event_shape is None:
      return None
    return {"input_shape": [None] + list(self.event_shape)}

  def build_from_config(self, config):
    if config and config.get("input_shape") is not None:
      self.build(tuple(config["input_shape"]))

  def compile_from_config(self, config):
    """Compiles a loaded model as it was saved (Keras skips `compile` for a
    model that overrides it), then creates the optimiser's variables so
    that the saved ones (the step count included) are restored into them."""
    config = keras.saving.deserialize_keras_object(config)
    self.compile(**config)
    if self.built and not self.optimizer.built:
      # As the training step builds it: the balancer's own networks have
      # their own optimiser.
      own = {id(v) for v in self.own_trainable_variables()}
      self.optimizer.build([v for v in self.trainable_variables
                            if id(v) not in own])

  def get_compile_config(self):
    """Keras' compile config; tfvae's automatic steps per call saved as
    "auto", so a loaded model chooses them again."""
    config = super().get_compile_config()
    if config is not None and self._auto_steps is not None:
      config["steps_per_execution"] = "auto"
    return config

  def load_own_variables(self, store):
    """Keras' loading; a file saved when the per-step log was a model weight
    holds two more values at its end (that log): they are skipped."""
    count = len(store.keys())
    if count >= 2:
      step, values = store[str(count - 2)], store[str(count - 1)]
      if (np.ndim(step) == 1 and np.ndim(values) == 2 and
          np.shape(values) == (np.shape(step)[0], len(self.scalar_names)) and
          np.asarray(step).dtype.kind == "i"):
        store = {str(k): store[str(k)] for k in range(count - 2)}
    super().load_own_variables(store)
