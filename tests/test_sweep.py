"""The sweep: grid planning, a small beta sweep end to end, resuming, report.

The end-to-end sweep trains digits with a Gaussian decoder of fixed sigma 0.1
for 300 steps at beta = 0.25, 1 and 8. Over seeds 0, 1, 3 and 4 the rates were
~28, ~15.5 and ~5 nats and the distortions ~-34, ~-29 and ~+15 nats, so the
ordering "rate falls, distortion rises with beta" holds with wide margins.
"""

import csv
import os
import shutil

import numpy as np
import pytest

from conftest import run_forked
from conftest import run_script
from tfvae.analysis import sweep
from tfvae.analysis import sweep_report
from tfvae.errors import ConfigError

BETAS = ("0.25", "1", "8")


def test_parse_grid():
  assert sweep.parse_grid("beta=0.25,1, 8") == ("beta", ["0.25", "1", "8"])
  assert sweep.parse_grid("--latent_dim=2,4") == ("latent_dim", ["2", "4"])
  for bad, message in (("beta", "FLAG=V1"), ("nope=1,2", "not a train.py"),
                       ("logdir=a,b", "cannot vary"), ("beta=1,,2", "empty"),
                       ("beta=1,1", "repeats")):
    with pytest.raises(ConfigError, match=message):
      sweep.parse_grid(bad)


def test_plan_points_is_the_cartesian_product(tmp_path):
  preset = tmp_path / "a.flags"
  preset.write_text("--likelihood=bernoulli\n")
  grids = [("beta", ["1", "2"]), ("latent_dim", ["2", "4", "8"])]
  points = sweep.plan_points(str(tmp_path / "s"), ["--steps=10"], grids,
                             [str(preset)])
  assert len(points) == 6
  first = points[0]
  assert first.name == "a-beta_1-latent_dim_2"
  assert first.values == {"preset": "a", "beta": "1", "latent_dim": "2"}
  # Preset first, then the pass-through overrides, the grid, the logdir.
  assert first.args == [f"--flagfile={preset}", "--steps=10", "--beta=1",
                        "--latent_dim=2",
                        f"--logdir={tmp_path / 's' / first.name}"]
  assert [p.values["latent_dim"] for p in points[:3]] == ["2", "4", "8"]
  with pytest.raises(ConfigError, match="no such flagfile"):
    sweep.plan_points("s", [], grids, [str(tmp_path / "missing.flags")])


def test_markdown_and_iso_elbo_levels():
  rows = [{"name": "beta_1", "kind": "sweep", "method": "fixed beta",
           "beta": "1", "rate": 10.0, "distortion": 5.0, "beta_eff": 1.0}]
  columns = sweep_report.report_columns(rows, ["beta"])
  table = sweep_report.markdown_table(rows, columns)
  assert table.splitlines()[0] == ("| run | kind | method | --beta | beta_eff |"
                                   " rate R | distortion D |")
  assert "| beta_1 | sweep | fixed beta | 1 | 1 | 10.000 | 5.000 |" in table
  levels = sweep_report.iso_elbo_levels([15.0, 20.0, 31.0])
  assert min(levels) <= 15.0 and max(levels) >= 31.0 and 15.0 in levels


@pytest.mark.parametrize("args,message", [
    ([], "nothing to sweep"),
    (["--grid=nope=1,2"], "not a train.py flag"),
    (["--grid=beta=1,x"], "point beta_x"),
    (["--grid=beta=1", "--jobs=0"], "--jobs"),
    (["--grid=beta=1", "--beta_norm=0.1"], "mutually exclusive"),
    (["--include=/nonexistent/run"], "not a finished tfvae run"),
])
def test_sweep_bad_input_is_one_line_and_exit_two(tmp_path, args, message):
  # The first case in a fresh interpreter, the others forked after the
  # imports (the same program, checks and exit status).
  run = run_script if message == "nothing to sweep" else run_forked
  proc = run("sweep.py", f"--sweep_dir={tmp_path}", *args)
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = [l for l in proc.stderr.splitlines() if l.startswith("sweep.py:")]
  assert len(lines) == 1 and message in lines[0], proc.stderr[-2000:]
  assert not os.listdir(tmp_path)  # Nothing was trained or written.


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def test_small_beta_sweep_end_to_end(tmp_path):
  flagfile = tmp_path / "base.flags"
  flagfile.write_text("--dataset=digits\n--likelihood=gaussian\n--sigma=0.1\n"
                      "--logdir=ignored/by/the/sweep\n")
  sweep_dir = tmp_path / "sweep"
  args = [f"--flagfile={flagfile}", f"--grid=beta={','.join(BETAS)}",
          "--steps=300", "--eval_every=300", f"--sweep_dir={sweep_dir}",
          "--jobs=2", "--iw_samples=20"]
  proc = run_script("sweep.py", *args)
  assert proc.returncode == 0, proc.stderr[-3000:]
  for beta in BETAS:
    assert f"beta_{beta}: trained" in proc.stdout
    assert f"beta_{beta}: evaluated" in proc.stdout

  rows = read_csv(sweep_dir / "sweep.csv")
  assert [r["name"] for r in rows] == [f"beta_{b}" for b in BETAS]
  for row in rows:
    assert row["kind"] == "sweep" and int(row["step"]) == 300
    assert float(row["iwae_nll"]) < float(row["neg_elbo"])
  np.testing.assert_allclose([float(r["beta_eff"]) for r in rows],
                             [float(b) for b in BETAS])
  rate = [float(r["rate"]) for r in rows]
  distortion = [float(r["distortion"]) for r in rows]
  assert rate[0] > rate[1] > rate[2], rate
  assert distortion[0] < distortion[1] < distortion[2], distortion

  markdown = (sweep_dir / "sweep.md").read_text()
  table = [l for l in markdown.splitlines() if l.startswith("|")]
  assert len(table) == 2 + len(BETAS)
  assert "IWAE NLL" in table[0] and "beta_norm" in table[0]
  png = (sweep_dir / "rd_plane.png").read_bytes()
  assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000
  assert os.listdir(sweep_dir / "hparams")
  # Every point is an ordinary run in its own logdir.
  for beta in BETAS:
    run = sweep_dir / f"beta_{beta}"
    assert (run / "final_metrics.json").exists()
    assert (run / "evaluation.json").exists()

  # Resuming: nothing is retrained; another method's run joins the report.
  other = tmp_path / "other_method"
  shutil.copytree(sweep_dir / "beta_1", other)
  proc = run_script("sweep.py", *args, f"--include={other}")
  assert proc.returncode == 0, proc.stderr[-3000:]
  for beta in BETAS:
    assert f"beta_{beta}: up to date" in proc.stdout
  assert "other_method: evaluated" in proc.stdout
  rows = read_csv(sweep_dir / "sweep.csv")
  assert [r["kind"] for r in rows] == ["sweep"] * 3 + ["included"]
  assert rows[3]["rate"] == rows[1]["rate"]
