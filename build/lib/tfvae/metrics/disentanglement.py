"""Disentanglement metrics with disentanglement_lib's defaults.

Every metric scores a `representation_function` (images [n, ...] -> latent means [n, d]) against
a `ground_truth_data` object with disentanglement_lib's interface (Locatello et al. 2019,
"Challenging Common Assumptions in the Unsupervised Learning of Disentangled
Representations"): `num_factors`, `factors_num_values`, `sample_factors(n, rng)` -> int
[n, K] and `sample_observations_from_factors(factors, rng)` -> observations. Sample sizes are
arguments whose defaults are disentanglement_lib's; randomness comes only from the given
`np.random.RandomState`.

Notation: z in R^d is the code, v_k (k = 1..K) the ground-truth factors.

* MIG, mutual information gap (Chen et al. 2018, "Isolating Sources of Disentanglement in
  VAEs"), with disentanglement_lib's HISTOGRAM estimator, not Chen et al.'s own (which
  integrates q(z|x) over the data set): each code dimension is discretised into 20 equal-width
  bins, I(z_j; v_k) is the plug-in `sklearn.metrics.mutual_info_score`, and

      MIG = mean_k (I_(1)k - I_(2)k) / H(v_k),

  where I_(1)k >= I_(2)k are the two largest I(z_j; v_k) over j and H(v_k) = I(v_k; v_k).
* beta-VAE score (Higgins et al. 2017, "beta-VAE"): a training point picks a factor k, draws
  64 pairs of observations that share v_k, and uses mean_pairs |z1 - z2| as features with
  label k; a logistic regression predicts k. Score: its accuracy on held-out points.
* FactorVAE score (Kim & Mnih 2018, "Disentangling by Factorising"): dimensions whose global
  standard deviation is below 0.05 are pruned; a vote fixes one factor k over a batch of 64
  observations and takes j* = argmin_j Var_batch(z_j) / Var_global(z_j) over active dims; the
  majority-vote classifier maps each dimension to the factor it received most votes for.
  disentanglement_lib indexes the argmin taken over the ACTIVE dims straight into the
  full-width vote matrix, so once a dimension is pruned the votes land on the wrong
  dimensions. Here the argmin is mapped back to the original dimension index before voting.
  (The accuracy itself is unchanged by that relabelling, the dimension-to-factor assignment,
  returned here, is not.)
* DCI (Eastwood & Williams 2018, "A Framework for the Quantitative Evaluation of Disentangled
  Representations"): gradient-boosted trees predict each factor from z; R_jk = |importance of
  z_j for v_k|. With P_jk = R_jk / sum_k R_jk and rho_j = sum_k R_jk / sum_jk R_jk,

      D = sum_j rho_j (1 - H_K(P_j.)),    C = sum_k w_k (1 - H_d(P~_.k)),

  H_b the entropy in base b, P~_jk = R_jk / sum_j R_jk, w_k = sum_j R_jk / sum_jk R_jk.
  Informativeness is the mean prediction accuracy (test, and train).
* SAP, separated attribute predictability (Kumar et al. 2018, "Variational Inference of
  Disentangled Latent Concepts from Unlabeled Observations"): S_jk is the test accuracy of a
  LinearSVC(C=0.01, class_weight="balanced") predicting v_k from z_j alone (or, for
  continuous factors, the squared correlation on training data); SAP = mean_k of the gap
  between the two largest S_jk.
"""

import numpy as np
from scipy import stats
from sklearn import ensemble, linear_model, metrics, svm

from tfvae.errors import DataError

FACTOR_VAE_MIN_STD = 0.05  # Kim & Mnih's pruning threshold on the global std.


def generate_batch_factor_code(ground_truth_data, representation_function, num_points,
                               random_state, batch_size):
  """Samples factors, renders observations and encodes them, batch by batch.

  Args:
    ground_truth_data: object with `sample_factors` and `sample_observations_from_factors`.
    representation_function: observations [n, ...] -> codes [n, d].
    num_points: number of points to sample.
    random_state: np.random.RandomState.
    batch_size: observations per call of `representation_function`.

  Returns:
    (codes float64 [num_points, d], factors int [num_points, K]); one row per point (note:
    disentanglement_lib returns the transposes).
  """
  codes, factors = [], []
  done = 0
  while done < num_points:
    num = min(num_points - done, batch_size)
    batch_factors = ground_truth_data.sample_factors(num, random_state)
    observations = ground_truth_data.sample_observations_from_factors(batch_factors,
                                                                      random_state)
    codes.append(_encode(representation_function, observations, num))
    factors.append(np.asarray(batch_factors))
    done += num
  return np.concatenate(codes), np.concatenate(factors)


def _encode(representation_function, observations, num):
  """Runs the representation function and checks it returns finite [num, d] codes."""
  codes = np.asarray(representation_function(observations), dtype=np.float64)
  if codes.ndim != 2 or codes.shape[0] != num:
    raise DataError(
        f"representation_function must return shape [{num}, d], got {codes.shape}")
  if not np.all(np.isfinite(codes)):
    raise DataError("representation_function returned non-finite values")
  return codes


def histogram_discretize(codes, num_bins=20):
  """Bins each column of codes [n, d] into `num_bins` equal-width bins; int [n, d] in 1..bins.

  Same as disentanglement_lib's `_histogram_discretize`: edges from `np.histogram` per
  dimension, `np.digitize` against all edges but the last (the maximum falls in the top bin).
  """
  discretized = np.zeros(codes.shape, dtype=np.int64)
  for j in range(codes.shape[1]):
    edges = np.histogram(codes[:, j], num_bins)[1]
    discretized[:, j] = np.digitize(codes[:, j], edges[:-1])
  return discretized


def mutual_info_matrix(discrete_codes, factors):
  """Plug-in mutual information (nats) between each code column and each factor: [d, K]."""
  return np.array([[metrics.mutual_info_score(factors[:, k], discrete_codes[:, j])
                    for k in range(factors.shape[1])]
                   for j in range(discrete_codes.shape[1])])


def _gap_of_top_two(matrix):
  """Per column, largest minus second largest entry (second is 0 with a single row)."""
  ordered = np.sort(matrix, axis=0)[::-1]
  second = ordered[1] if len(ordered) > 1 else np.zeros_like(ordered[0])
  return ordered[0] - second


def compute_mig(ground_truth_data, representation_function, random_state, num_train=10000,
                batch_size=16, num_bins=20):
  """Mutual information gap, disentanglement_lib's histogram estimator (not Chen et al.'s).

  Args:
    ground_truth_data: ground-truth data (see the module docstring).
    representation_function: observations -> codes [n, d].
    random_state: np.random.RandomState.
    num_train: points sampled.
    batch_size: observations per representation call.
    num_bins: equal-width bins per code dimension.

  Returns:
    {"mig": float, "mig_per_factor": list of K floats}.

  Raises:
    DataError: a factor took a single value in the sample (its entropy is 0).
  """
  codes, factors = generate_batch_factor_code(ground_truth_data, representation_function,
                                              num_train, random_state, batch_size)
  mutual_info = mutual_info_matrix(histogram_discretize(codes, num_bins), factors)
  entropies = np.array([metrics.mutual_info_score(factors[:, k], factors[:, k])
                        for k in range(factors.shape[1])])
  if np.any(entropies <= 0):
    raise DataError(f"factor(s) {np.flatnonzero(entropies <= 0).tolist()} took a single value "
                    f"in {num_train} samples; increase num_train")
  per_factor = _gap_of_top_two(mutual_info) / entropies
  return {"mig": float(np.mean(per_factor)), "mig_per_factor": per_factor.tolist()}


def _beta_vae_points(ground_truth_data, representation_function, random_state, batch_size,
                     num_points):
  """beta-VAE features (mean |z1 - z2| over pairs sharing factor k) and labels k."""
  features, labels = [], []
  for _ in range(num_points):
    factor_index = random_state.randint(ground_truth_data.num_factors)
    factors1 = ground_truth_data.sample_factors(batch_size, random_state)
    factors2 = ground_truth_data.sample_factors(batch_size, random_state)
    factors2[:, factor_index] = factors1[:, factor_index]
    codes1 = _encode(representation_function,
                     ground_truth_data.sample_observations_from_factors(factors1, random_state),
                     batch_size)
    codes2 = _encode(representation_function,
                     ground_truth_data.sample_observations_from_factors(factors2, random_state),
                     batch_size)
    features.append(np.mean(np.abs(codes1 - codes2), axis=0))
    labels.append(factor_index)
  return np.array(features), np.array(labels)


def compute_beta_vae_score(ground_truth_data, representation_function, random_state,
                           batch_size=64, num_train=10000, num_eval=5000):
  """beta-VAE score (Higgins et al. 2017): accuracy of a linear factor classifier.

  Args:
    ground_truth_data: ground-truth data (see the module docstring).
    representation_function: observations -> codes [n, d].
    random_state: np.random.RandomState.
    batch_size: pairs averaged per training point.
    num_train: training points.
    num_eval: evaluation points.

  Returns:
    {"beta_vae.train_accuracy": float, "beta_vae.eval_accuracy": float}.
  """
  train_x, train_y = _beta_vae_points(ground_truth_data, representation_function,
                                      random_state, batch_size, num_train)
  model = linear_model.LogisticRegression(random_state=random_state)
  model.fit(train_x, train_y)
  eval_x, eval_y = _beta_vae_points(ground_truth_data, representation_function, random_state,
                                    batch_size, num_eval)
  return {
      "beta_vae.train_accuracy": float(np.mean(model.predict(train_x) == train_y)),
      "beta_vae.eval_accuracy": float(np.mean(model.predict(eval_x) == eval_y)),
  }


def _factor_vae_votes(ground_truth_data, representation_function, random_state, batch_size,
                      num_points, global_variances, active_dims):
  """Vote matrix [K, d]: votes[k, j] counts batches with factor k fixed whose argmin is j."""
  votes = np.zeros((ground_truth_data.num_factors, len(global_variances)), dtype=np.int64)
  for _ in range(num_points):
    factor_index = random_state.randint(ground_truth_data.num_factors)
    factors = ground_truth_data.sample_factors(batch_size, random_state)
    factors[:, factor_index] = factors[0, factor_index]
    observations = ground_truth_data.sample_observations_from_factors(factors, random_state)
    codes = _encode(representation_function, observations, batch_size)
    local_variances = np.var(codes, axis=0, ddof=1)
    ratios = local_variances[active_dims] / global_variances[active_dims]
    # The argmin indexes the active dims; map it back to the full code (see module docstring).
    votes[factor_index, active_dims[np.argmin(ratios)]] += 1
  return votes


def compute_factor_vae_score(ground_truth_data, representation_function, random_state,
                             batch_size=64, num_train=10000, num_eval=5000,
                             num_variance_estimate=10000):
  """FactorVAE score (Kim & Mnih 2018): accuracy of the majority-vote classifier.

  Args:
    ground_truth_data: ground-truth data (see the module docstring).
    representation_function: observations -> codes [n, d].
    random_state: np.random.RandomState.
    batch_size: observations per vote.
    num_train: training votes.
    num_eval: evaluation votes.
    num_variance_estimate: points for the global variances.

  Returns:
    {"factor_vae.train_accuracy", "factor_vae.eval_accuracy": floats,
     "factor_vae.num_active_dims": int,
     "factor_vae.assigned_factor_per_dim": list of d ints, the factor each dimension votes for
       (-1 for pruned dimensions and dimensions without training votes)};
    with no active dimension both accuracies are 0 and "factor_vae.note" says why.
  """
  codes, _ = generate_batch_factor_code(ground_truth_data, representation_function,
                                        num_variance_estimate, random_state, batch_size)
  global_variances = np.var(codes, axis=0, ddof=1)
  active_dims = np.flatnonzero(np.sqrt(global_variances) >= FACTOR_VAE_MIN_STD)
  if active_dims.size == 0:
    return {
        "factor_vae.train_accuracy": 0.0,
        "factor_vae.eval_accuracy": 0.0,
        "factor_vae.num_active_dims": 0,
        "factor_vae.assigned_factor_per_dim": [-1] * len(global_variances),
        "factor_vae.note": (f"no active dimension: every global std < {FACTOR_VAE_MIN_STD} "
                            "(collapsed representation); score set to 0"),
    }
  train_votes = _factor_vae_votes(ground_truth_data, representation_function, random_state,
                                  batch_size, num_train, global_variances, active_dims)
  eval_votes = _factor_vae_votes(ground_truth_data, representation_function, random_state,
                                 batch_size, num_eval, global_variances, active_dims)
  # Majority vote per dimension; like disentanglement_lib, an unvoted dimension predicts 0.
  classifier = np.argmax(train_votes, axis=0)
  dims = np.arange(train_votes.shape[1])
  assigned = np.where(train_votes.sum(axis=0) > 0, classifier, -1)
  return {
      "factor_vae.train_accuracy": float(train_votes[classifier, dims].sum() / num_train),
      "factor_vae.eval_accuracy": float(eval_votes[classifier, dims].sum() / num_eval),
      "factor_vae.num_active_dims": int(active_dims.size),
      "factor_vae.assigned_factor_per_dim": assigned.tolist(),
  }


def _normalised_entropy_complement(weights, base):
  """1 - H_base(weights / sum(weights)) per row of a non-negative matrix."""
  if base < 2:
    return np.ones(weights.shape[0])  # A single outcome has no uncertainty.
  return 1.0 - stats.entropy(weights.T + 1e-11, base=base)


def compute_dci(ground_truth_data, representation_function, random_state, num_train=10000,
                num_test=5000, batch_size=16, **gbt_kwargs):
  """DCI disentanglement, completeness and informativeness (Eastwood & Williams 2018).

  Args:
    ground_truth_data: ground-truth data (see the module docstring).
    representation_function: observations -> codes [n, d].
    random_state: np.random.RandomState.
    num_train: training points for the per-factor classifiers.
    num_test: test points.
    batch_size: observations per representation call.
    **gbt_kwargs: forwarded to `sklearn.ensemble.GradientBoostingClassifier` (defaults as in
      disentanglement_lib: sklearn's, n_estimators=100); e.g. n_estimators=10 for speed. A
      `random_state` is drawn from `random_state` unless given.

  Returns:
    {"dci.disentanglement", "dci.completeness", "dci.informativeness" (mean test accuracy),
     "dci.informativeness_train": floats, "dci.importance_matrix": [d][K] list}.
  """
  train_codes, train_factors = generate_batch_factor_code(
      ground_truth_data, representation_function, num_train, random_state, batch_size)
  test_codes, test_factors = generate_batch_factor_code(
      ground_truth_data, representation_function, num_test, random_state, batch_size)
  gbt_kwargs.setdefault("random_state", random_state.randint(2**31 - 1))
  num_codes, num_factors = train_codes.shape[1], train_factors.shape[1]
  importance = np.zeros((num_codes, num_factors))
  train_accuracy, test_accuracy = [], []
  for k in range(num_factors):
    model = ensemble.GradientBoostingClassifier(**gbt_kwargs)
    model.fit(train_codes, train_factors[:, k])
    importance[:, k] = np.abs(model.feature_importances_)
    train_accuracy.append(np.mean(model.predict(train_codes) == train_factors[:, k]))
    test_accuracy.append(np.mean(model.predict(test_codes) == test_factors[:, k]))

  # Uninformative codes (all importances 0) count as spread uniformly, as in disentanglement_lib.
  weights = importance if importance.sum() > 0 else np.ones_like(importance)
  code_weight = weights.sum(axis=1) / weights.sum()
  factor_weight = weights.sum(axis=0) / weights.sum()
  disentanglement = np.sum(code_weight * _normalised_entropy_complement(weights, num_factors))
  completeness = np.sum(factor_weight * _normalised_entropy_complement(weights.T, num_codes))
  return {
      "dci.disentanglement": float(disentanglement),
      "dci.completeness": float(completeness),
      "dci.informativeness": float(np.mean(test_accuracy)),
      "dci.informativeness_train": float(np.mean(train_accuracy)),
      "dci.importance_matrix": importance.tolist(),
  }


def _sap_score_matrix(train_codes, train_factors, test_codes, test_factors,
                      continuous_factors):
  """S [d, K]: how well code j alone predicts factor k."""
  num_codes, num_factors = train_codes.shape[1], train_factors.shape[1]
  scores = np.zeros((num_codes, num_factors))
  for j in range(num_codes):
    for k in range(num_factors):
      if continuous_factors:
        covariance = np.cov(train_codes[:, j], train_factors[:, k], ddof=1)
        code_variance, factor_variance = covariance[0, 0], covariance[1, 1]
        if code_variance > 0 and factor_variance > 0:
          scores[j, k] = covariance[0, 1]**2 / (code_variance * factor_variance)
      else:
        classifier = svm.LinearSVC(C=0.01, class_weight="balanced")
        classifier.fit(train_codes[:, j:j + 1], train_factors[:, k])
        scores[j, k] = np.mean(classifier.predict(test_codes[:, j:j + 1]) == test_factors[:, k])
  return scores


def compute_sap(ground_truth_data, representation_function, random_state, num_train=10000,
                num_test=5000, continuous_factors=False, batch_size=16):
  """SAP score (Kumar et al. 2018): mean gap between the two most predictive codes.

  Args:
    ground_truth_data: ground-truth data (see the module docstring).
    representation_function: observations -> codes [n, d].
    random_state: np.random.RandomState.
    num_train: training points.
    num_test: test points (unused when `continuous_factors`).
    continuous_factors: score by squared correlation instead of classification accuracy.
    batch_size: observations per representation call.

  Returns:
    {"sap": float, "sap_per_factor": list of K floats, "sap.score_matrix": [d][K] list}.
  """
  train_codes, train_factors = generate_batch_factor_code(
      ground_truth_data, representation_function, num_train, random_state, batch_size)
  test_codes, test_factors = generate_batch_factor_code(
      ground_truth_data, representation_function, num_test, random_state, batch_size)
  scores = _sap_score_matrix(train_codes, train_factors, test_codes, test_factors,
                             continuous_factors)
  per_factor = _gap_of_top_two(scores)
  return {
      "sap": float(np.mean(per_factor)),
      "sap_per_factor": per_factor.tolist(),
      "sap.score_matrix": scores.tolist(),
  }
