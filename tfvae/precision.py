"""Mixed precision: which policy a run uses, and 16-bit gradients that keep the ELBO.

Policies (`--mixed_precision`): "none" (float32), "mixed_bfloat16",
"mixed_float16" and "auto": bfloat16 where the hardware computes it natively
(a CPU reporting the `avx512_bf16` or AMX flags, a GPU of compute capability
>= 8.0), float32 elsewhere. Under a mixed policy layers compute in 16 bits and
keep float32 variables; tfvae's likelihood, KL and reductions run in float32
(`BaseVAE.encode` / `decode_params` cast the networks' outputs).

**Bias gradients.** Keras' TensorFlow backend turns every layer's bias add
into `tf.nn.bias_add`, and TensorFlow's CPU kernel for its gradient,
`BiasAddGrad`, sums the upstream gradient over batch and space *in the input
dtype*. In bfloat16 (8 significant bits) a running sum stops growing once it
is ~256 times the terms it adds, so the bias gradient of a convolution, a sum
over batch x height x width (131,072 terms for 32x32 maps at batch 128), comes
out wrong by tens of percent (measured: 25% relative error against float64 on
random data, while `tf.reduce_sum` and the convolutions' kernel gradients,
which accumulate in float32, are within bfloat16's rounding, 0.2%). This,
not the decoder's logits nor the posterior heads (both within 1e-3 of
float32 per batch), is what made `mixed_bfloat16` training end at a worse
ELBO (docs/performance.md). `accurate_bias_gradients()` swaps the gradient of
`BiasAdd` for one that sums in float32 while a gradient is built; float32
gradients still use TensorFlow's own kernel, unchanged. See also
tensorflow/tensorflow issue 86378 (`BiasAddGrad` disagrees between CPU and
GPU).
"""

import contextlib
import functools
import threading

import keras
import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops  # pylint: disable=g-direct-tensorflow-import

POLICIES = ("none", "mixed_float16", "mixed_bfloat16", "auto")
# The flags a CPU reports in /proc/cpuinfo when it computes bfloat16 natively.
CPU_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")
# GPUs from Ampere (compute capability 8.0) on have bfloat16 tensor cores.
GPU_BFLOAT16_CAPABILITY = (8, 0)
_SIXTEEN_BIT = (tf.bfloat16, tf.float16)


def cpu_flags(cpuinfo_path="/proc/cpuinfo"):
  """The set of feature flags of the first CPU (empty when unreadable)."""
  try:
    with open(cpuinfo_path, encoding="utf-8", errors="replace") as f:
      for line in f:
        if line.startswith("flags"):
          return set(line.split(":", 1)[1].split())
  except OSError:
    pass
  return set()


def cpu_supports_bfloat16(flags=None):
  """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX)."""
  flags = cpu_flags() if flags is None else set(flags)
  return any(flag in flags for flag in CPU_BFLOAT16_FLAGS)


def gpu_capabilities():
  """Compute capabilities (major, minor) of the visible GPUs."""
  capabilities = []
  for gpu in tf.config.list_physical_devices("GPU"):
    details = tf.config.experimental.get_device_details(gpu)
    capability = details.get("compute_capability")
    capabilities.append(tuple(capability) if capability else (0, 0))
  return capabilities


def auto_policy(capabilities=None, flags=None):
  """The policy "auto" resolves to: "mixed_bfloat16" or "none".

  With GPUs, bfloat16 when every one has compute capability >= 8.0; without,
  bfloat16 when the CPU reports AVX512-BF16 or AMX.

  Args:
    capabilities: the GPUs' compute capabilities (default: the visible ones).
    flags: the CPU's feature flags (default: read from /proc/cpuinfo).
  """
  capabilities = gpu_capabilities() if capabilities is None else capabilities
  if capabilities:
    native = all(tuple(c) >= GPU_BFLOAT16_CAPABILITY for c in capabilities)
  else:
    native = cpu_supports_bfloat16(flags)
  return "mixed_bfloat16" if native else "none"


def resolve_policy(policy):
  """"none", "mixed_float16" or "mixed_bfloat16" for a `POLICIES` name."""
  if policy not in POLICIES:
    raise ValueError(f"mixed_precision must be one of {', '.join(POLICIES)}, "
                     f"got {policy!r}")
  return auto_policy() if policy == "auto" else policy


def set_policy(policy):
  """Sets Keras' global dtype policy; returns the resolved policy name."""
  resolved = resolve_policy(policy)
  keras.mixed_precision.set_global_policy(
      "float32" if resolved == "none" else resolved)
  return resolved


@contextlib.contextmanager
def _kept_global_policy():
  before = keras.mixed_precision.global_policy()
  try:
    yield
  finally:
    keras.mixed_precision.set_global_policy(before)


@contextlib.contextmanager
def global_policy(policy):
  """Within: Keras' global dtype policy is `policy` (a `POLICIES` name).

  Yields the resolved name; the policy before is put back afterwards.
  """
  with _kept_global_policy():
    yield set_policy(policy)


def restores_global_policy(fn):
  """Decorator: Keras' global dtype policy is put back when `fn` ends.

  The trainer sets the run's policy to build its model; a library caller's
  own models built afterwards get the policy they had before.
  """
  @functools.wraps(fn)
  def wrapper(*args, **kwargs):
    with _kept_global_policy():
      return fn(*args, **kwargs)
  return wrapper


def current_policy():
  """The global Keras policy as a `POLICIES` name ("none" for float32)."""
  name = keras.mixed_precision.global_policy().name
  return "none" if name == "float32" else name


# ------------------------------------------------------------ bias gradients

_LOCK = threading.RLock()
_ORIGINAL = {}
# One entry per `accurate_bias_gradients` in progress (any thread).
_USERS = []


def _bias_axes(rank, data_format):
  """Axes a bias gradient sums over (all but the channel axis)."""
  channel = 1 if data_format in (b"NCHW", "NCHW") else rank - 1
  return [axis for axis in range(rank) if axis != channel]


def bias_add_gradient(op, received_grad):
  """Gradient of `BiasAdd` that sums 16-bit gradients in float32."""
  if received_grad.dtype not in _SIXTEEN_BIT:
    return _ORIGINAL["BiasAdd"](op, received_grad)
  try:
    data_format = op.get_attr("data_format")
  except ValueError:
    data_format = None
  axes = _bias_axes(received_grad.shape.rank, data_format)
  bias_grad = tf.reduce_sum(tf.cast(received_grad, tf.float32), axis=axes)
  return received_grad, tf.cast(bias_grad, received_grad.dtype)


@contextlib.contextmanager
def accurate_bias_gradients():
  """Within: gradients of `BiasAdd` sum 16-bit values in float32.

  Wrap the `tape.gradient` call (the backward graph is built there). Float32
  gradients are TensorFlow's own. Re-entrant and thread-safe.
  """
  registry = tf_ops.gradient_registry._registry  # pylint: disable=protected-access
  entry = registry.get("BiasAdd")
  if entry is None:  # an unknown TensorFlow: leave it as it is
    yield
    return
  # Counted, not held: under tf.distribute every replica builds its
  # gradients in its own thread and they wait for each other (all-reduces),
  # so a lock held for the whole `yield` would deadlock them.
  with _LOCK:
    _ORIGINAL.setdefault("BiasAdd", entry["type"])
    if not _USERS:
      entry["type"] = bias_add_gradient
    _USERS.append(None)
  try:
    yield
  finally:
    with _LOCK:
      _USERS.pop()
      if not _USERS:
        entry["type"] = _ORIGINAL["BiasAdd"]
