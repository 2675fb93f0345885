"""mixed_table: a generated table with mixed column types and known factors.

Each row has 9 columns, described by the column spec

    COLUMNS = "gaussian:4,bernoulli:3,categorical:4,categorical:3"

(4 real columns, 3 binary columns, one 4-way and one 3-way categorical
column; a categorical column holds its integer code 0 .. K-1 as a float).
Rows are stored as float32 and used as they are: not min-max scaled, not
binarised (support "real").

The rows come from three latent factors, a mixture of the kind tabular VAEs
(Xu et al. 2019, TVAE) meet in practice:

    c ~ Categorical(CLUSTER_PROBS)        a cluster, 4 values
    z ~ N(0, I_2)                         two continuous factors

    real[:4]     = CLUSTER_MEANS[c] + z @ LOADINGS + 0.3 * eps,  eps ~ N(0, I_4)
    binary[j]    ~ Bernoulli(sigmoid(z @ BINARY_WEIGHTS[:, j]
                             + BINARY_BIAS[c, j]))
    code4        = c with probability 0.9, else uniform among the other 3
    code3        ~ Categorical(softmax(z @ CODE3_WEIGHTS))

so every column depends on the factors and a 3-dimensional code explains
the table up to the noise. The generative constants are fixed; the seed only
draws the rows. The factors (c, z_1, z_2) are returned with the rows; they
are continuous in part, so they are stored, not offered to the grid-based
disentanglement metrics.
"""

import numpy as np

from tfvae.errors import DataError

COLUMNS = "gaussian:4,bernoulli:3,categorical:4,categorical:3"
NUM_COLUMNS = 9
FACTOR_NAMES = ("cluster", "z1", "z2")
DEFAULT_NUM_EXAMPLES = 20000
_BLOCK = 1000

CLUSTER_PROBS = np.array([0.4, 0.3, 0.2, 0.1])
CLUSTER_MEANS = np.array([[-1.5, 0.0, 1.0, 0.5],
                          [1.5, -1.0, 0.0, -0.5],
                          [0.0, 1.5, -1.5, 1.0],
                          [1.0, 1.0, 1.0, -2.0]])
LOADINGS = np.array([[0.8, 0.0, -0.6, 0.3],
                     [0.2, 0.9, 0.4, -0.7]])
NOISE_SCALE = 0.3
BINARY_WEIGHTS = np.array([[2.0, 0.0, -1.5],
                           [0.0, 2.0, 1.5]])
BINARY_BIAS = np.array([[1.0, -1.0, 0.0],
                        [-1.0, 1.0, 0.5],
                        [0.0, 0.0, -1.0],
                        [1.5, 1.5, 1.5]])
CODE4_KEEP = 0.9
CODE3_WEIGHTS = np.array([[2.0, -1.0, -1.0],
                          [0.0, 1.5, -1.5]])


def _categorical(rng, probs):
  """One draw per row of [n, K] probabilities (inverse CDF)."""
  cumulative = np.cumsum(probs, axis=1)
  u = rng.uniform(size=(probs.shape[0], 1)) * cumulative[:, -1:]
  return np.minimum((u > cumulative).sum(axis=1), probs.shape[1] - 1)


def _rows(rng, num):
  """`num` rows and factors drawn with `rng` (see the module docstring)."""
  cluster = _categorical(rng, np.broadcast_to(CLUSTER_PROBS, (num, 4)))
  z = rng.normal(size=(num, 2))
  real = (CLUSTER_MEANS[cluster] + z @ LOADINGS +
          NOISE_SCALE * rng.normal(size=(num, 4)))
  logits = z @ BINARY_WEIGHTS + BINARY_BIAS[cluster]
  binary = rng.uniform(size=(num, 3)) < 1.0 / (1.0 + np.exp(-logits))
  other = (cluster + 1 + rng.randint(3, size=num)) % 4
  code4 = np.where(rng.uniform(size=num) < CODE4_KEEP, cluster, other)
  scores = z @ CODE3_WEIGHTS
  probs = np.exp(scores - scores.max(axis=1, keepdims=True))
  code3 = _categorical(rng, probs / probs.sum(axis=1, keepdims=True))
  rows = np.concatenate([real, binary, code4[:, None], code3[:, None]],
                        axis=1).astype(np.float32)
  factors = np.concatenate([cluster[:, None], z], axis=1).astype(np.float32)
  return rows, factors


def generate(num=DEFAULT_NUM_EXAMPLES, seed=0):
  """`num` rows and their factors.

  Rows are drawn in blocks of `_BLOCK` with a generator seeded by (seed,
  block), so a smaller set is a prefix of a larger one with the same seed.

  Returns:
    (rows float32 [num, 9] laid out as `COLUMNS`, factors float32 [num, 3]
    = (cluster, z1, z2)).
  """
  if int(num) != num or num < 1:
    raise DataError(f"mixed_table: the number of examples must be >= 1, got "
                    f"{num}", params=("max_examples",))
  num = int(num)
  blocks = [_rows(np.random.RandomState([seed, b]), _BLOCK)
            for b in range(-(-num // _BLOCK))]
  rows = np.concatenate([b[0] for b in blocks])[:num]
  factors = np.concatenate([b[1] for b in blocks])[:num]
  return rows, factors
