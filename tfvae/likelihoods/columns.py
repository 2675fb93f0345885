"""A product likelihood over the columns of a table with mixed column types.

A table row x = (x_1, ..., x_D) holds one float per column; the decoder
models the columns independently given z:

    p(x|z) = prod_{gaussian j} N(x_j; mu_j, sigma_j^2)
             prod_{bernoulli j} lam_j^x_j (1 - lam_j)^(1 - x_j)
             prod_{categorical j} softmax(l_j)[x_j]

The layout is a list of (kind, size) pairs, written as text
"gaussian:4,bernoulli:3,categorical:4,categorical:3": `gaussian:n` and
`bernoulli:n` are n columns of that kind, `categorical:V` is ONE column
holding an integer code in [0, V) (as a float). That example has rows of
4 + 3 + 1 + 1 = 9 values. The decoder emits, in the same order, one mean per
Gaussian column (identity), one logit per Bernoulli column and V logits per
categorical column: params_shape = [4 + 3 + 4 + 3] = [14]. Each Gaussian
column has its own learned log sigma, a variable (not a decoder output),
init 0 and soft-clipped from below like the sigma-VAE's shared sigma
(`gaussian.softclip`, m = -6; Rybkin et al. 2021).

`nll` is per column, [B, D]; `mean` gives the Gaussian means, the Bernoulli
probabilities and, for a categorical column, the most probable code (the
argmax, not a mean: a code's average is meaningless); `sample` draws codes.

This is the likelihood of CTGAN/SDV's TVAE (Xu et al., NeurIPS 2019,
"Modeling Tabular Data using Conditional GAN"): a Gaussian with a learned
sigma per continuous column and cross-entropy per discrete column; TVAE
multiplies the reconstruction by `loss_factor` = 2, which is beta_eff = 1/2
in ELBO units. TVAE also normalises continuous columns per mode (a tanh
scalar + a one-hot mode) before this likelihood; here the columns are taken
as they come, so standardise continuous columns first.

Pitfalls: the learned log sigma makes the Gaussian NLL negative once a column
is fitted closely (CTGAN#212 asks why TVAE's loss goes below 0); a sigma per
column also weighs the columns against each other, which a fixed sigma would
not.
"""

import dataclasses
import math
import re
from typing import Sequence, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.errors import ConfigError
from tfvae.likelihoods.base import Likelihood
from tfvae.likelihoods.base import data_error
from tfvae.likelihoods.base import register
from tfvae.likelihoods.gaussian import softclip
from tfvae.objectives import elbo
from tfvae.settings import option

tfd = tfp.distributions

KINDS = ("gaussian", "bernoulli", "categorical")


@dataclasses.dataclass
class ColumnsSettings:
  """The column likelihood's command-line settings."""

  columns: str = option(
      "", "columns likelihood: the table's column types in order, e.g. "
      "gaussian:4,bernoulli:3,categorical:4 (4 real columns, 3 binary, one "
      "4-way categorical column holding codes 0..3); empty: the data set's.")


def parse_columns(spec, name="columns") -> Tuple[Tuple[str, int], ...]:
  """((kind, size), ...) from "kind:size,..." text or (kind, size) pairs.

  Raises ConfigError naming `name` for an unknown kind, a size that is not a
  positive integer, a categorical column of fewer than 2 classes, or no
  column at all.
  """
  def fail(message):
    raise ConfigError(
        f"{name}: {message}; write e.g. \"gaussian:4,bernoulli:3,"
        f"categorical:4\" (kinds: {', '.join(KINDS)})", params=(name,))

  if isinstance(spec, str):
    items = [item.strip() for item in spec.split(",") if item.strip()]
    pairs = []
    for item in items:
      match = re.fullmatch(r"([A-Za-z_]+)\s*:\s*(\S+)", item)
      if match is None:
        fail(f"{item!r} is not kind:size")
      pairs.append((match.group(1), match.group(2)))
  elif isinstance(spec, (list, tuple)):
    pairs = list(spec)
  else:
    fail(f"expected text or (kind, size) pairs, got {type(spec).__name__}")
  if not pairs:
    fail("no column given")
  out = []
  for pair in pairs:
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
      fail(f"{pair!r} is not a (kind, size) pair")
    kind, size = pair
    if kind not in KINDS:
      fail(f"unknown column kind {kind!r}")
    try:
      number = float(size)
    except (TypeError, ValueError):
      number = float("nan")
    if isinstance(size, bool) or not (math.isfinite(number) and
                                      number == int(number) and number >= 1):
      fail(f"the size of {kind} must be an integer >= 1, got {size!r}")
    if kind == "categorical" and number < 2:
      fail(f"a categorical column needs >= 2 classes, got {size!r}")
    out.append((kind, int(number)))
  return tuple(out)


def format_columns(spec: Sequence[Tuple[str, int]]) -> str:
  """The text form of parsed columns."""
  return ",".join(f"{kind}:{size}" for kind, size in spec)


def data_width(spec):
  """Values per row: size for gaussian / bernoulli, 1 per categorical."""
  return sum(1 if kind == "categorical" else size for kind, size in spec)


def params_width(spec):
  """Decoder outputs per row: one per gaussian / bernoulli column, V per
  categorical column."""
  return sum(size for _, size in spec)


@register("columns")
class Columns(Likelihood):
  """Product likelihood over mixed table columns; see the module docstring.

  Args:
    columns: "kind:size,..." text or (kind, size) pairs, kinds gaussian,
      bernoulli, categorical.
  """

  support = "table"
  Settings = ColumnsSettings
  description_keys = ("columns",)

  def __init__(self, columns, name="likelihood", **kwargs):
    super().__init__(name=name, **kwargs)
    self.spec = parse_columns(columns)
    self.columns = format_columns(self.spec)
    self.data_width = data_width(self.spec)
    self.params_width = params_width(self.spec)
    # (kind, first data column, first param, param count, first sigma)
    self.blocks = []
    data, param, sigma = 0, 0, 0
    for kind, size in self.spec:
      self.blocks.append((kind, data, param, size, sigma))
      data += 1 if kind == "categorical" else size
      param += size
      sigma += size if kind == "gaussian" else 0
    self.gaussian_columns = sigma
    if self.gaussian_columns:
      self.raw_log_sigma = self.add_weight(
          shape=(self.gaussian_columns,), initializer="zeros",
          name="log_sigma_column", trainable=True)
    self.kinds = tuple(k for k in KINDS if any(k == s[0] for s in self.spec))
    self.scalar_names = tuple(f"distortion_{k}" for k in self.kinds)

  # ----------------------------------------------------------- building

  @classmethod
  def check_settings(cls, settings):
    if settings.columns:
      parse_columns(settings.columns)

  @classmethod
  def from_settings(cls, settings, event_shape=None, data=None):
    spec = settings.columns or getattr(data, "columns", None)
    if not spec:
      raise ConfigError(
          "columns is empty and the data set declares no columns: give the "
          "table's column types, e.g. gaussian:4,bernoulli:3,categorical:4",
          params=("columns",))
    spec = parse_columns(spec)
    if event_shape is not None:
      shape = tuple(int(d) for d in event_shape)
      if shape != (data_width(spec),):
        raise ConfigError(
            f"columns {format_columns(spec)!r} make rows of "
            f"{data_width(spec)} values, the data's rows have shape {shape}",
            params=("columns",))
    return cls(columns=spec)

  def get_config(self):
    config = super().get_config()
    config.update(columns=self.columns)
    return config

  @classmethod
  def translator_entry(cls):
    return {"reconstruction": "sum over columns: Gaussian NLL (a learned "
                              "sigma per column) + Bernoulli and categorical "
                              "cross-entropies, nats",
            "weight": "beta_eff: the weight on the summed KL per nat of "
                      "summed NLL (1 = the ELBO). CTGAN/SDV TVAE's "
                      "loss_factor f multiplies the reconstruction instead: "
                      "beta_eff = 1 / f (default loss_factor 2 = beta_eff "
                      "0.5)"}

  # ------------------------------------------------------------- shapes

  def _check_width(self, event_shape):
    shape = tuple(int(d) for d in event_shape)
    if shape != (self.data_width,):
      raise ValueError(
          f"columns {self.columns!r} make rows of {self.data_width} values, "
          f"the data's rows have shape {shape}")

  def params_shape(self, event_shape):
    self._check_width(event_shape)
    return (self.params_width,)

  def build_for(self, event_shape):
    self._check_width(event_shape)

  # ---------------------------------------------------------------- data

  def check_data(self, x, argument="x"):
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != self.data_width:
      raise data_error(
          argument, f"columns {self.columns!r} make rows of "
          f"{self.data_width} values, the data have shape {x.shape} (rows of "
          f"{x.shape[-1] if x.ndim else 0}): the column widths must add up to "
          f"the data's width")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
      raise data_error(argument, "the columns likelihood needs finite "
                       "values; the data hold NaN or inf")
    for kind, start, _, size, _ in self.blocks:
      if kind == "bernoulli":
        values = x[:, start:start + size]
        if not np.all((values == 0) | (values == 1)):
          raise data_error(
              argument, f"columns {start}..{start + size - 1} are bernoulli "
              f"and need values in {{0, 1}}, got values in "
              f"[{values.min():g}, {values.max():g}]")
      elif kind == "categorical":
        codes = x[:, start]
        if not np.all((codes == np.round(codes)) & (codes >= 0) &
                      (codes < size)):
          raise data_error(
              argument, f"column {start} is categorical:{size} and needs "
              f"integer codes 0..{size - 1}, got values in "
              f"[{codes.min():g}, {codes.max():g}]")
    return []

  # ------------------------------------------------------------ density

  def log_sigma(self):
    """The Gaussian columns' soft-clipped log sigmas, [gaussian columns]."""
    return softclip(tf.convert_to_tensor(self.raw_log_sigma))

  def block_distributions(self, params):
    """[(kind, first data column, columns, elementwise distribution)]."""
    params = tf.convert_to_tensor(params, tf.float32)
    out = []
    for kind, start, first, size, sigma in self.blocks:
      part = params[..., first:first + size]
      if kind == "gaussian":
        scale = tf.exp(self.log_sigma()[sigma:sigma + size])
        out.append((kind, start, size, tfd.Normal(loc=part, scale=scale)))
      elif kind == "bernoulli":
        out.append((kind, start, size,
                    tfd.Bernoulli(logits=part, dtype=tf.float32)))
      else:
        out.append((kind, start, 1, tfd.Categorical(
            logits=part[..., tf.newaxis, :], dtype=tf.float32)))
    return out

  def distribution(self, params, x=None):
    """One distribution over whole rows ([D] events; log_prob sums them)."""
    del x
    return tfd.Blockwise([tfd.Independent(d, 1) for _, _, _, d in
                          self.block_distributions(params)])

  def _per_block_nll(self, x, params):
    x = tf.convert_to_tensor(x, tf.float32)
    out = []
    for kind, start, width, dist in self.block_distributions(params):
      values = x[..., start:start + width]
      if kind == "categorical":
        values = tf.round(values)
      out.append((kind, -dist.log_prob(values)))
    return out

  def nll(self, x, params):
    """-log p per column, [B, D] nats."""
    return tf.concat([nll for _, nll in self._per_block_nll(x, params)],
                     axis=-1)

  def mean(self, params, x=None):
    """Gaussian means, Bernoulli probabilities, categorical argmax codes."""
    parts = []
    for kind, _, _, dist in self.block_distributions(params):
      if kind == "gaussian":
        parts.append(dist.loc)
      elif kind == "bernoulli":
        parts.append(tf.sigmoid(dist.logits))
      else:
        parts.append(tf.cast(tf.argmax(dist.logits, axis=-1), tf.float32))
    return tf.concat(parts, axis=-1)

  def sample(self, params, seed=None):
    return tf.cast(self.distribution(params).sample(seed=seed), tf.float32)

  def summaries(self, params, x):
    """distortion_<kind>: the batch mean of the summed NLL of that kind's
    columns (nats per example)."""
    totals = {}
    for kind, nll in self._per_block_nll(x, params):
      per_example = tf.reduce_sum(nll, axis=-1)
      totals[kind] = totals.get(kind, 0.0) + per_example
    return {f"distortion_{kind}": elbo.global_batch_mean(totals[kind])
            for kind in self.kinds}
