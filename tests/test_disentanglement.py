"""Tests for tfvae.metrics.disentanglement on a tiny fake ground truth and on DSpritesLike.

The fake data set has four independent discrete factors; its "observations" are the factor
values themselves, so a representation can be exactly the factors (plus noise), pure noise,
or a rotation that mixes them, and each metric must rank those as the papers intend.
"""

import warnings

import numpy as np
import pytest
from sklearn import metrics as sk_metrics

from tfvae.data.dsprites import DSpritesLike, FACTOR_NAMES
from tfvae.errors import DataError
from tfvae.metrics import disentanglement as dis

SIZES = np.array([5, 6, 7, 8])
# Standardising makes every code dimension unit-variance, like typical latent means.
FACTOR_MEAN = (SIZES - 1) / 2.0
FACTOR_STD = np.sqrt((SIZES**2 - 1) / 12.0)
# A fixed random rotation; seed 10 is chosen because two factors (1 and 2) then load most on
# the same code dimension (3), which the FactorVAE score is sensitive to; it ignores mixings
# that keep each factor's dominant dimension distinct.
ROTATION = np.linalg.qr(np.random.RandomState(10).normal(size=(4, 4)))[0]

SMALL = {
    "mig": dict(num_train=2000),
    "beta_vae": dict(num_train=300, num_eval=200),
    "factor_vae": dict(num_train=300, num_eval=200, num_variance_estimate=2000),
    "dci": dict(num_train=1000, num_test=500, n_estimators=10),
    "sap": dict(num_train=1000, num_test=500),
}


class FakeGroundTruth:
  """Independent uniform discrete factors; observations are the factor values as floats."""

  def __init__(self, sizes=SIZES):
    self.factors_num_values = [int(s) for s in sizes]
    self.num_factors = len(sizes)

  def sample_factors(self, num, random_state):
    return np.stack([random_state.randint(s, size=num) for s in self.factors_num_values],
                    axis=1)

  def sample_observations_from_factors(self, factors, random_state):
    del random_state
    return np.asarray(factors, dtype=np.float64)


def identity_codes(noise=0.05, seed=0):
  rng = np.random.RandomState(seed)
  return lambda x: (x - FACTOR_MEAN) / FACTOR_STD + noise * rng.normal(size=x.shape)


def noise_codes(seed=0):
  rng = np.random.RandomState(seed)
  return lambda x: rng.normal(size=x.shape)


def rotated_codes(seed=0):
  identity = identity_codes(seed=seed)
  return lambda x: identity(x) @ ROTATION


def all_scores(representation_function_factory, seed=1):
  """Every metric on the fake data, each with a fresh representation and generator."""
  gt = FakeGroundTruth()
  scores = {}
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # sklearn convergence warnings on noise are expected.
    scores.update(dis.compute_mig(gt, representation_function_factory(),
                                  np.random.RandomState(seed), **SMALL["mig"]))
    scores.update(dis.compute_beta_vae_score(gt, representation_function_factory(),
                                             np.random.RandomState(seed), **SMALL["beta_vae"]))
    scores.update(dis.compute_factor_vae_score(gt, representation_function_factory(),
                                               np.random.RandomState(seed),
                                               **SMALL["factor_vae"]))
    scores.update(dis.compute_dci(gt, representation_function_factory(),
                                  np.random.RandomState(seed), **SMALL["dci"]))
    scores.update(dis.compute_sap(gt, representation_function_factory(),
                                  np.random.RandomState(seed), **SMALL["sap"]))
  return scores


@pytest.fixture(scope="module")
def identity_scores():
  return all_scores(identity_codes)


@pytest.fixture(scope="module")
def noise_scores():
  return all_scores(noise_codes)


@pytest.fixture(scope="module")
def rotated_scores():
  return all_scores(rotated_codes)


def test_factors_plus_small_noise_score_near_the_top(identity_scores):
  s = identity_scores
  assert s["mig"] > 0.9
  assert min(s["mig_per_factor"]) > 0.9
  assert s["beta_vae.eval_accuracy"] > 0.95
  assert s["factor_vae.eval_accuracy"] > 0.95
  assert s["factor_vae.num_active_dims"] == 4
  assert s["factor_vae.assigned_factor_per_dim"] == [0, 1, 2, 3]
  assert s["dci.disentanglement"] > 0.9
  assert s["dci.completeness"] > 0.9
  assert s["dci.informativeness"] > 0.9
  # One-dimensional linear SVMs can only separate a few of 5-8 classes: SAP stays modest.
  assert s["sap"] > 0.12
  assert all(np.argmax(np.array(s["sap.score_matrix"]), axis=0) == [0, 1, 2, 3])


def test_pure_noise_scores_near_chance(noise_scores):
  s = noise_scores
  assert abs(s["mig"]) < 0.03
  assert s["beta_vae.eval_accuracy"] < 0.45
  assert s["factor_vae.eval_accuracy"] < 0.45  # Chance is 1/4.
  assert s["dci.disentanglement"] < 0.15
  assert s["dci.informativeness"] < 0.3
  assert s["sap"] < 0.05


def test_rotation_mixing_scores_lower_than_identity(identity_scores, rotated_scores):
  dominant = np.argmax(ROTATION**2, axis=1)
  assert len(set(dominant)) < 4  # Precondition for the FactorVAE comparison (see ROTATION).
  for key in ("mig", "factor_vae.eval_accuracy", "dci.disentanglement", "dci.completeness",
              "sap"):
    assert rotated_scores[key] < identity_scores[key] - 0.1, key


def test_mig_matches_a_direct_computation():
  gt = FakeGroundTruth()

  def representation(x):
    # Deterministic (both computations see identical codes); the jitter keeps codes of the
    # discrete inputs off the bin edges, where the two binning formulas may round apart.
    jitter = 0.01 * np.sin(x @ np.array([12.9898, 78.233, 37.719, 4.581]))
    mixed = np.stack([x[:, 0] + 0.3 * x[:, 1], np.tanh(x[:, 2] - 3.0), x[:, 3]**2,
                      np.sin(x[:, 0] * x[:, 3]), x[:, 1] * 0.7 - x[:, 2]], axis=1)
    return mixed + jitter[:, None]

  num_points, batch_size, num_bins = 1000, 16, 20
  result = dis.compute_mig(gt, representation, np.random.RandomState(7), num_train=num_points,
                           batch_size=batch_size, num_bins=num_bins)

  rng = np.random.RandomState(7)
  factors = np.concatenate([gt.sample_factors(min(batch_size, num_points - start), rng)
                            for start in range(0, num_points, batch_size)])
  codes = representation(factors.astype(np.float64))
  # Equal-width bins between each code's min and max, the maximum in the top bin.
  low, high = codes.min(axis=0), codes.max(axis=0)
  bins = np.minimum(np.floor((codes - low) / (high - low) * num_bins), num_bins - 1)
  expected = []
  for k in range(4):
    info = sorted((sk_metrics.mutual_info_score(factors[:, k], bins[:, j])
                   for j in range(codes.shape[1])), reverse=True)
    expected.append((info[0] - info[1]) / sk_metrics.mutual_info_score(factors[:, k],
                                                                      factors[:, k]))
  np.testing.assert_allclose(result["mig_per_factor"], expected, rtol=1e-9, atol=1e-12)
  assert result["mig"] == pytest.approx(np.mean(expected))


def test_factor_vae_maps_votes_past_a_pruned_leading_dimension():
  gt = FakeGroundTruth()
  identity = identity_codes()

  def representation(x):  # A collapsed (constant) dimension before the informative ones.
    return np.concatenate([np.full((len(x), 1), 0.3), identity(x)], axis=1)

  s = dis.compute_factor_vae_score(gt, representation, np.random.RandomState(2),
                                   **SMALL["factor_vae"])
  assert s["factor_vae.num_active_dims"] == 4
  assert s["factor_vae.eval_accuracy"] > 0.95
  # disentanglement_lib's indexing would credit dims [0, 1, 2, 3] instead.
  assert s["factor_vae.assigned_factor_per_dim"] == [-1, 0, 1, 2, 3]


def test_factor_vae_without_active_dimensions_scores_zero():
  s = dis.compute_factor_vae_score(FakeGroundTruth(), lambda x: np.zeros((len(x), 3)),
                                   np.random.RandomState(0), num_train=5, num_eval=5,
                                   num_variance_estimate=100)
  assert s["factor_vae.eval_accuracy"] == 0.0
  assert s["factor_vae.num_active_dims"] == 0
  assert "no active" in s["factor_vae.note"]


def test_continuous_sap_of_the_factors_is_high():
  s = dis.compute_sap(FakeGroundTruth(), identity_codes(), np.random.RandomState(0),
                      num_train=1000, num_test=10, continuous_factors=True)
  assert s["sap"] > 0.9


def test_generate_batch_factor_code_shapes_and_bad_representations():
  gt = FakeGroundTruth()
  codes, factors = dis.generate_batch_factor_code(gt, identity_codes(), 37,
                                                  np.random.RandomState(0), 16)
  assert codes.shape == (37, 4) and factors.shape == (37, 4)
  with pytest.raises(DataError, match="shape"):
    dis.compute_mig(gt, lambda x: x[:, 0], np.random.RandomState(0), num_train=20)
  with pytest.raises(DataError, match="non-finite"):
    dis.compute_mig(gt, lambda x: x * np.nan, np.random.RandomState(0), num_train=20)


def test_metrics_run_end_to_end_on_dsprites_like():
  data = DSpritesLike()
  columns = np.arange(64.0)

  def image_moments(images):
    # Stand-in encoder: centroid column, centroid row and sqrt(pixel mass), normalised.
    pixels = images[..., 0].astype(np.float64)
    mass = pixels.sum(axis=(1, 2))
    centroid_x = (pixels.sum(axis=1) * columns).sum(axis=1) / mass
    centroid_y = (pixels.sum(axis=2) * columns).sum(axis=1) / mass
    return np.stack([centroid_x / 64.0, centroid_y / 64.0, np.sqrt(mass) / 22.0], axis=1)

  mig = dis.compute_mig(data, image_moments, np.random.RandomState(0), num_train=2000)
  per_factor = dict(zip(FACTOR_NAMES, mig["mig_per_factor"]))
  assert per_factor["posX"] > 0.5 and per_factor["posY"] > 0.5
  assert per_factor["orientation"] < 0.1
  factor_vae = dis.compute_factor_vae_score(data, image_moments, np.random.RandomState(0),
                                            num_train=100, num_eval=50,
                                            num_variance_estimate=500)
  assert factor_vae["factor_vae.assigned_factor_per_dim"][:2] == [3, 4]
