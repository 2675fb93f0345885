"""The pieces of benchmarks/kl_parts_table.py (the full run is a benchmark)."""

import importlib.util
import math
import os
import types

import pytest

from conftest import ROOT

_SPEC = importlib.util.spec_from_file_location(
    "kl_parts_table", os.path.join(ROOT, "benchmarks", "kl_parts_table.py"))
table = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(table)


def test_every_method_is_a_valid_config_with_the_same_schedule(tmp_path):
  configs = [table.method_config(m, 1, str(tmp_path), steps=40)
             for m in table.METHODS]
  shared = ("dataset", "steps", "seed", "batch_size", "latent_dim",
            "architecture", "learning_rate", "max_examples")
  configs = [c.to_flat() for c in configs]
  for config in configs:
    assert all(config[k] == configs[0][k] for k in shared)
  configs = [types.SimpleNamespace(**c) for c in configs]
  by_method = dict(zip(table.METHODS, configs))
  assert by_method["vae"].balancer == "none" and by_method["vae"].beta == 1.0
  assert by_method["beta_vae"].beta == 4.0
  assert by_method["beta_tcvae"].tc_beta == 6.0
  assert by_method["factorvae"].factorvae_gamma == 35.0
  assert by_method["dip_vae_i"].dip_lambda_d == 100.0
  assert len({c.logdir for c in configs}) == len(configs)
  with pytest.raises(ValueError, match="method"):
    table.method_config("vq_vae", 0, str(tmp_path))


def test_summary_is_mean_and_sample_standard_deviation_over_seeds():
  rows = [{"method": "vae", "seed": s, "rate": r, "mig": None}
          for s, r in enumerate((1.0, 2.0, 6.0))]
  rows.append({"method": "beta_vae", "seed": 0, "rate": 5.0,
               "mig": float("nan")})
  summary = table.summarise(rows)
  mean, spread, count = summary["vae"]["rate"]
  assert (mean, count) == (3.0, 3)
  # Sample standard deviation of 1, 2, 6: sqrt(((-2)^2 + 1 + 9) / 2).
  assert spread == pytest.approx(math.sqrt(7.0))
  assert "mig" not in summary["vae"] and "mig" not in summary["beta_vae"]
  text = table.markdown_table(summary, ["vae", "beta_vae"])
  lines = text.splitlines()
  assert lines[0] == "| method | rate R |"
  assert lines[2] == "| VAE | 3.00 ± 2.65 |"
  assert lines[3] == "| beta-VAE (beta 4) | 5.00 |"


def test_row_keeps_the_table_columns():
  result = {"rate": 3, "index_code_mi": 1.5, "total_correlation": 0.5,
            "dimwise_kl": 1.0, "distortion": 80.0, "mig": 0.1, "other": 9}
  row = table.row_of("beta_tcvae", 2, result)
  assert row["method"] == "beta_tcvae" and row["seed"] == 2
  assert row["rate"] == 3.0 and row["sap"] is None and "other" not in row
