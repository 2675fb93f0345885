"""The generated data sets (shapes_rgb, mixed_table) and npz integer values."""

import colorsys
import json
import math

import numpy as np
import pytest

from tfvae.config import ExperimentConfig
from tfvae.data import datasets
from tfvae.data import mixed_table
from tfvae.data import pipeline
from tfvae.data import shapes_rgb
from tfvae.errors import ConfigError, DataError
from tfvae.runs import rundir


def load(**flat):
  return datasets.load_data(ExperimentConfig.from_flat(**flat).validate())


# ------------------------------------------------------------- shapes_rgb


@pytest.fixture(scope="module")
def shapes():
  return shapes_rgb.generate(3000, seed=0)


def test_shapes_are_deterministic_and_a_prefix_of_a_larger_draw(shapes):
  images, factors = shapes
  again, again_factors = shapes_rgb.generate(3000, seed=0)
  np.testing.assert_array_equal(images, again)
  np.testing.assert_array_equal(factors, again_factors)
  small, small_factors = shapes_rgb.generate(500, seed=0)
  np.testing.assert_array_equal(small, images[:500])
  np.testing.assert_array_equal(small_factors, factors[:500])
  other, _ = shapes_rgb.generate(500, seed=1)
  assert not np.array_equal(other, small)


def test_shapes_dtype_shape_and_open_unit_range(shapes):
  images, factors = shapes
  assert images.shape == (3000, 32, 32, 3) and images.dtype == np.uint8
  assert factors.shape == (3000, 6) and factors.dtype == np.int64
  # HSV values 0.95 (object) and 0.40 (background), saturations 0.85 / 0.6:
  # every channel lies in [0.95 * 0.15, 0.95] * 255, never 0 or 255.
  assert images.min() >= math.floor(0.95 * 0.15 * 255)
  assert images.max() <= math.ceil(0.95 * 255)


def test_shapes_cover_every_factor_value_without_repeats(shapes):
  _, factors = shapes
  for k, size in enumerate(shapes_rgb.FACTOR_SIZES):
    assert set(np.unique(factors[:, k])) == set(range(size)), k
  codes = factors @ shapes_rgb.FACTOR_BASES
  assert len(np.unique(codes)) == len(codes)


def test_shapes_index_and_factors_round_trip():
  source = shapes_rgb.ShapesRGB()
  indices = np.array([0, 1, 17, 12345, shapes_rgb.NUM_IMAGES - 1])
  factors = source.index_to_factors(indices)
  np.testing.assert_array_equal(source.factors_to_index(factors), indices)
  np.testing.assert_array_equal(factors[-1],
                                np.array(shapes_rgb.FACTOR_SIZES) - 1)
  assert shapes_rgb.NUM_IMAGES == 3 * 8 * 8 * 6 * 15 * 15
  with pytest.raises(DataError, match="factors must lie"):
    source.render(np.array([[3, 0, 0, 0, 0, 0]]))


def _hsv255(hue, saturation, value):
  return np.rint(np.array(colorsys.hsv_to_rgb(hue, saturation, value)) * 255)


@pytest.mark.parametrize("shape,area", [
    (0, lambda r: 2.0 * r * r),  # square with corners on the circle
    (1, lambda r: math.pi * 0.6 * r * r),  # ellipse, semi-axes r, 0.6 r
    (2, lambda r: 3 * math.sqrt(3) / 4 * r * r),  # inscribed triangle
])
def test_shapes_render_colours_area_and_position(shape, area):
  """Colours from colorsys, covered area from the shapes' formulas, and the
  shape's centroid at its patch's centre."""
  source = shapes_rgb.ShapesRGB()
  factors = np.array([[shape, 2, 5, scale, x, y]
                      for scale in (0, 5) for x, y in ((0, 0), (14, 7))])
  images = source.render(factors).astype(np.float64)
  obj = _hsv255(2 / 8, 0.85, 0.95)
  back = _hsv255(5 / 8, 0.60, 0.40)
  channel = int(np.argmax(np.abs(obj - back)))
  for image, (_, _, _, scale, x, y) in zip(images, factors):
    radius = 8.0 * (0.5 + 0.1 * scale)
    np.testing.assert_array_equal(image[31, 31] if x == 0 else image[0, 0],
                                  back)
    cy, cx = int(y + 9), int(x + 9)
    np.testing.assert_array_equal(image[cy, cx], obj)  # fully covered
    alpha = (image[..., channel] - back[channel]) / (obj[channel] -
                                                     back[channel])
    # 4x4 supersampling misplaces an edge by at most 1/8 pixel: the error
    # is below 1/8 of the perimeter (< 6 r for these shapes).
    assert alpha.sum() == pytest.approx(area(radius), abs=6 * radius / 8)
    rows, cols = np.mgrid[0:32, 0:32] + 0.5
    # Every shape's centroid is its disc's centre (the triangle's too).
    assert (alpha * cols).sum() / alpha.sum() == pytest.approx(x + 9, abs=0.1)
    assert (alpha * rows).sum() / alpha.sum() == pytest.approx(y + 9, abs=0.1)


def test_every_factor_changes_the_image():
  source = shapes_rgb.ShapesRGB()
  base = np.array([1, 3, 6, 2, 7, 7])
  for k, size in enumerate(shapes_rgb.FACTOR_SIZES):
    factors = np.repeat(base[None], size, axis=0)
    factors[:, k] = np.arange(size)
    flat = source.render(factors).reshape(size, -1)
    assert len({row.tobytes() for row in flat}) == size, k


def test_shapes_ground_truth_interface_feeds_the_metrics():
  from tfvae.evaluation import loading
  from tfvae.metrics import disentanglement
  config = ExperimentConfig.from_flat(dataset="shapes_rgb").validate()
  source = loading.factor_source(config)
  assert isinstance(source, shapes_rgb.ShapesRGB)
  assert source.factors_num_values == [3, 8, 8, 6, 15, 15]
  rng = np.random.RandomState(0)
  observations = source.sample_observations_from_factors(
      source.sample_factors(4, rng), rng)
  assert observations.shape == (4, 32, 32, 3)

  # A code that reads the x position off the image: MIG is high for posX.
  def represent(obs):
    alpha = np.abs(obs.astype(np.float32) - obs[:, :1, :1]).sum(axis=(1, 3))
    return ((alpha * np.arange(32)).sum(1) / alpha.sum(1))[:, None]

  result = disentanglement.compute_mig(source, represent,
                                       np.random.RandomState(0),
                                       num_train=2000)
  per_factor = dict(zip(shapes_rgb.FACTOR_NAMES, result["mig_per_factor"]))
  assert per_factor["posX"] > 0.5
  assert max(v for k, v in per_factor.items() if k != "posX") < 0.1


def test_shapes_rgb_data_set_splits_with_its_factors():
  data = load(dataset="shapes_rgb", max_examples=1000)
  assert data.train.dtype == np.uint8 and data.scale == pytest.approx(1 / 255)
  assert data.event_shape == (32, 32, 3) and data.support == "unit"
  assert data.num_train == 900 and data.validation.shape[0] == 100
  assert data.factor_names == shapes_rgb.FACTOR_NAMES
  source = shapes_rgb.ShapesRGB()
  np.testing.assert_array_equal(source.render(data.train_factors[:50]),
                                data.train[:50])
  np.testing.assert_array_equal(source.render(data.validation_factors),
                                data.validation)
  train_codes = set(source.factors_to_index(data.train_factors))
  assert not train_codes & set(source.factors_to_index(
      data.validation_factors))
  # The seed draws the split, not the images.
  other = load(dataset="shapes_rgb", max_examples=1000, seed=1)
  assert (set(source.factors_to_index(other.train_factors)) |
          set(source.factors_to_index(other.validation_factors))) == (
              train_codes | set(source.factors_to_index(
                  data.validation_factors)))
  assert not np.array_equal(other.validation, data.validation)
  batch = next(iter(pipeline.train_dataset(data, 16, seed=0))).numpy()
  assert batch.shape == (16, 32, 32, 3)
  assert 0.0 < batch.min() and batch.max() < 1.0


def test_shapes_rgb_default_size_and_binarization():
  data = load(dataset="shapes_rgb", validation_fraction=0.0)
  assert data.num_train == shapes_rgb.DEFAULT_NUM_EXAMPLES == 20000
  with pytest.raises(DataError, match="binarization=static") as info:
    load(dataset="shapes_rgb", binarization="static", max_examples=100)
  assert info.value.params == ("binarization",)
  dynamic = load(dataset="shapes_rgb", binarization="dynamic",
                 max_examples=100)
  assert dynamic.scale == pytest.approx(1 / 255)


# ------------------------------------------------------------ mixed_table


def parse_columns(spec):
  """`kind:n,...` -> one (kind, classes) per column; written for the test."""
  columns = []
  for part in spec.split(","):
    kind, number = part.split(":")
    if kind == "categorical":
      columns.append((kind, int(number)))
    else:
      columns.extend([(kind, None)] * int(number))
  return columns


@pytest.fixture(scope="module")
def table():
  return mixed_table.generate(5000, seed=0)


def test_table_values_match_its_column_spec(table):
  rows, factors = table
  columns = parse_columns(mixed_table.COLUMNS)
  assert rows.shape == (5000, len(columns)) == (5000, 9)
  assert rows.dtype == np.float32 and factors.dtype == np.float32
  for j, (kind, classes) in enumerate(columns):
    values = rows[:, j]
    if kind == "bernoulli":
      assert set(np.unique(values)) == {0.0, 1.0}, j
    elif kind == "categorical":
      assert set(np.unique(values)) == set(map(float, range(classes))), j
    else:
      assert len(np.unique(values)) > 4000, j  # continuous
  # Real columns leave [0, 1]: the data are not scaled to it.
  assert rows[:, :4].min() < -1 and rows[:, :4].max() > 2


def test_table_is_deterministic_and_prefix_consistent(table):
  rows, factors = table
  again, again_factors = mixed_table.generate(5000, seed=0)
  np.testing.assert_array_equal(rows, again)
  np.testing.assert_array_equal(factors, again_factors)
  np.testing.assert_array_equal(mixed_table.generate(1234, seed=0)[0],
                                rows[:1234])
  assert not np.array_equal(mixed_table.generate(100, seed=1)[0], rows[:100])


def test_table_columns_follow_the_factors(table):
  rows, factors = table
  cluster, z = factors[:, 0].astype(int), factors[:, 1:]
  assert set(np.unique(cluster)) == {0, 1, 2, 3}
  frequencies = np.bincount(cluster) / len(cluster)
  np.testing.assert_allclose(frequencies, mixed_table.CLUSTER_PROBS,
                             atol=0.03)
  # The 4-way code is the cluster 90% of the time.
  assert np.mean(rows[:, 7] == cluster) == pytest.approx(0.9, abs=0.02)
  # Real columns: residuals of the linear model have the noise scale.
  residual = rows[:, :4] - (mixed_table.CLUSTER_MEANS[cluster] +
                            z @ mixed_table.LOADINGS)
  np.testing.assert_allclose(residual.std(axis=0), 0.3, rtol=0.05)
  # Binary column 0 rises with z1 (weight 2).
  assert np.corrcoef(rows[:, 4], z[:, 0])[0, 1] > 0.4


def test_mixed_table_data_set_carries_its_columns(tmp_path):
  data = load(dataset="mixed_table", max_examples=600)
  assert data.columns == mixed_table.COLUMNS
  assert data.support == "real" and data.scale == 1.0 and data.values
  assert data.event_shape == (9,) and data.train.dtype == np.float32
  assert data.num_train == 540 and data.train_factors.shape == (540, 3)
  rows, _ = mixed_table.generate(600, 0)
  assert {r.tobytes() for r in data.train} | {
      r.tobytes() for r in data.validation} == {r.tobytes() for r in rows}
  spec = rundir.data_spec(data)
  assert spec["columns"] == mixed_table.COLUMNS
  assert spec["support"] == "real" and spec["image_shape"] == [9]
  rundir.write_data_spec(str(tmp_path), spec)
  assert rundir.read_data_spec(str(tmp_path)) == json.loads(json.dumps(spec))
  # Batches are the rows unchanged.
  batch = next(iter(pipeline.eval_dataset(data.validation, data.scale,
                                          64))).numpy()
  np.testing.assert_array_equal(batch, data.validation[:64])
  for mode in ("static", "dynamic"):
    with pytest.raises(DataError, match="cannot be binarised") as info:
      load(dataset="mixed_table", binarization=mode, max_examples=100)
    assert info.value.params == ("binarization",)


def test_generated_names_are_valid_datasets():
  for name in ("shapes_rgb", "mixed_table"):
    config = ExperimentConfig.from_flat(dataset=name).validate()
    assert config.data.dataset_kind == name
  with pytest.raises(ConfigError, match="shapes_rgb, mixed_table"):
    ExperimentConfig.from_flat(dataset="shapes").validate()


# ------------------------------------------------------- npz integer values


def test_npz_integer_token_ids_keep_their_values(tmp_path):
  ids = np.random.RandomState(0).randint(0, 500, (40, 12)).astype(np.int64)
  path = str(tmp_path / "ids.npz")
  np.savez(path, x=ids, num_classes=np.int64(500))
  data = load(dataset=f"npz:{path}", validation_fraction=0.0)
  assert data.scale == 1.0 and data.num_classes == 500 and data.values
  assert data.train.dtype == np.float32
  np.testing.assert_array_equal(data.train, ids.astype(np.float32))
  spec = rundir.data_spec(data)
  assert spec["num_classes"] == 500 and "columns" not in spec
  assert spec["stored_dtype"] == "float32" and spec["uint8_scale"] is None
  with pytest.raises(DataError, match="cannot be binarised"):
    load(dataset=f"npz:{path}", binarization="dynamic")


def test_npz_integer_rows_without_keys_are_values(tmp_path):
  rows = np.random.RandomState(1).randint(-3, 4, (30, 5)).astype(np.int32)
  path = str(tmp_path / "rows.npz")
  np.savez(path, x=rows)
  data = load(dataset=f"npz:{path}", validation_fraction=0.0)
  assert data.scale == 1.0 and data.values and data.num_classes is None
  assert data.support == "real"
  np.testing.assert_array_equal(data.train, rows)
  assert "num_classes" not in rundir.data_spec(data)


def test_npz_uint8_ids_need_a_key_to_be_values(tmp_path):
  ids = np.random.RandomState(2).randint(0, 20, (30, 6)).astype(np.uint8)
  path = str(tmp_path / "u8.npz")
  np.savez(path, x=ids)
  assert load(dataset=f"npz:{path}").scale == pytest.approx(1 / 255)
  vocab = np.array([f"w{i}" for i in range(20)])
  np.savez(path, x=ids, vocab=vocab)
  data = load(dataset=f"npz:{path}", validation_fraction=0.0)
  assert data.scale == 1.0 and data.num_classes == 20
  assert data.vocab == tuple(vocab.tolist())
  np.testing.assert_array_equal(data.train, ids)
  assert rundir.data_spec(data)["vocab"] == vocab.tolist()
  # With a key, a uint8 [N, H, W] array is values too (no channel axis).
  np.savez(path, x=np.zeros((10, 4, 4), np.uint8), num_classes=np.int64(3))
  data = load(dataset=f"npz:{path}")
  assert data.event_shape == (4, 4) and data.scale == 1.0


def test_npz_columns_key_is_carried(tmp_path):
  rows, _ = mixed_table.generate(50, 0)
  path = str(tmp_path / "table.npz")
  np.savez(path, x=rows, columns=np.array(mixed_table.COLUMNS))
  data = load(dataset=f"npz:{path}")
  assert data.columns == mixed_table.COLUMNS and data.values
  assert rundir.data_spec(data)["columns"] == mixed_table.COLUMNS


@pytest.mark.parametrize("extra,message", [
    ({"num_classes": np.int64(1)}, "num_classes must be one integer >= 2"),
    ({"num_classes": np.array([3, 4])}, "num_classes must be one integer"),
    ({"num_classes": np.float32(3)}, "num_classes must be one integer"),
    ({"vocab": np.arange(5)}, "vocab must be a 1-D array"),
    ({"vocab": np.array(["a", "b"]), "num_classes": np.int64(3)},
     "vocab has 2 entries but num_classes is 3"),
    ({"columns": np.array(["a", "b"])}, "columns must be one non-empty"),
])
def test_npz_bad_keys_raise_one_line(tmp_path, extra, message):
  path = str(tmp_path / "bad.npz")
  np.savez(path, x=np.zeros((5, 3), np.int64), **extra)
  with pytest.raises(DataError, match=message) as info:
    datasets.read_npz(path)
  assert "\n" not in str(info.value) and "bad.npz" in str(info.value)


def test_npz_integers_beyond_float32_precision_are_refused(tmp_path):
  path = str(tmp_path / "big.npz")
  np.savez(path, x=np.full((5, 3), 2**24 + 1, np.int64))
  with pytest.raises(DataError, match="not exact in float32"):
    datasets.read_npz(path)
  np.savez(path, x=np.full((5, 3), 2**24, np.int64))
  assert datasets.read_npz(path)[0].max() == 2**24


def test_existing_data_sets_write_the_same_data_spec():
  """No new keys in data.json for data sets without them."""
  spec = rundir.data_spec(load(max_examples=200))
  assert set(spec) == {"image_shape", "data_scale", "stored_dtype",
                       "uint8_scale", "support", "num_train"}
