"""Data sources and the tf.data pipeline (all offline)."""

import numpy as np
import pytest
import tensorflow as tf

from tfvae.config import ExperimentConfig
from tfvae.data import datasets
from tfvae.data import pipeline
from tfvae.errors import DataError


def test_digits_are_the_real_sklearn_digits_in_unit_range():
  config = ExperimentConfig().validate()
  data = datasets.load_data(config)
  assert data.image_shape == (8, 8, 1)
  assert data.train.dtype == np.uint8
  assert data.num_train + data.validation.shape[0] == 1797
  assert data.support == "unit"
  x = data.train.astype(np.float32) * data.scale
  assert x.min() == 0.0 and x.max() == 1.0


def test_validation_split_is_disjoint_and_deterministic():
  images, _ = datasets.load_digits()
  a_train, a_val = datasets.split_validation(images, 0.1, seed=3)
  b_train, b_val = datasets.split_validation(images, 0.1, seed=3)
  np.testing.assert_array_equal(a_val, b_val)
  assert a_train.shape[0] + a_val.shape[0] == images.shape[0]
  assert a_val.shape[0] == 180


def test_train_pipeline_keeps_uint8_until_batching_and_scales():
  config = ExperimentConfig.from_flat(batch_size=16).validate()
  data = datasets.load_data(config)
  ds = pipeline.train_dataset(data, 16, seed=0)
  batch = next(iter(ds))
  assert batch.dtype == tf.float32 and batch.shape == (16, 8, 8, 1)
  assert float(tf.reduce_max(batch)) <= 1.0
  # Same seed, same order: the pipeline is deterministic (resume relies on it).
  again = next(iter(pipeline.train_dataset(data, 16, seed=0)))
  np.testing.assert_array_equal(batch.numpy(), again.numpy())


def test_dynamic_binarization_resamples_binary_pixels():
  config = ExperimentConfig.from_flat(batch_size=32).validate()
  data = datasets.load_data(config)
  ds = iter(pipeline.train_dataset(data, 32, seed=0, binarization="dynamic"))
  first = next(ds).numpy()
  assert set(np.unique(first)) <= {0.0, 1.0}


def test_static_binarization_gives_binary_support():
  config = ExperimentConfig.from_flat(binarization="static").validate()
  data = datasets.load_data(config)
  assert data.support == "binary"
  assert set(np.unique(data.train)) <= {0, 1}


def test_npz_uint8_and_float_and_support_checks(tmp_path):
  path = str(tmp_path / "u8.npz")
  np.savez(path, x=np.random.RandomState(0).randint(0, 256, (50, 6, 6),
                                                    dtype=np.uint8))
  data = datasets.load_data(ExperimentConfig.from_flat(
      dataset=f"npz:{path}").validate())
  assert data.image_shape == (6, 6, 1) and data.scale == pytest.approx(1 / 255)
  assert datasets.check_support(data, "continuous_bernoulli") is None
  assert "not binary" in datasets.check_support(data, "bernoulli")

  path = str(tmp_path / "f.npz")
  np.savez(path, images=np.full((20, 4, 4, 3), 2.0, np.float32))
  data = datasets.load_data(ExperimentConfig.from_flat(
      dataset=f"npz:{path}").validate())
  assert data.support == "real"
  with pytest.raises(DataError, match=r"needs values in \[0, 1\]"):
    datasets.check_support(data, "bernoulli")
  assert datasets.check_support(data, "gaussian") is None


@pytest.mark.parametrize("array,images,message", [
    (np.zeros((0, 4, 4), np.uint8), False, "empty"),
    (np.zeros((5,), np.uint8), False, "expected examples of shape"),
    (np.zeros((5, 4), np.uint8), True, "expected images of shape"),
    (np.zeros((5, 4, 4), np.int64), False, "unsupported dtype"),
    (np.full((5, 4, 4), np.nan, np.float32), False, "NaN"),
    (np.zeros((5, 4, 4, 2), np.uint8), True, "1 or 3 channels"),
])
def test_npz_bad_arrays_raise_one_line(tmp_path, array, images, message):
  path = str(tmp_path / "bad.npz")
  np.savez(path, x=array)
  with pytest.raises(DataError, match=message) as info:
    datasets.load_npz(path, images=images)
  assert "\n" not in str(info.value)


def test_npz_of_any_event_shape(tmp_path):
  """Vectors [N, D] and sequences [N, T, D] keep their shape; real values
  are measured as such, so the Gaussian's mean defaults to the identity."""
  rng = np.random.RandomState(0)
  for shape in ((40, 7), (40, 16, 3)):
    path = str(tmp_path / f"x{len(shape)}.npz")
    np.savez(path, x=rng.normal(size=shape).astype(np.float32))
    data = datasets.load_data(ExperimentConfig.from_flat(
        dataset=f"npz:{path}").validate())
    assert data.event_shape == shape[1:]
    assert data.num_features == int(np.prod(shape[1:]))
    assert not data.in_unit_interval
  # With the conv network a float [N, H, W] array is a grey-level image set.
  path = str(tmp_path / "grey.npz")
  np.savez(path, x=rng.uniform(size=(40, 8, 8)).astype(np.float32))
  data = datasets.load_data(ExperimentConfig.from_flat(
      dataset=f"npz:{path}", architecture="conv").validate())
  assert data.event_shape == (8, 8, 1) and data.in_unit_interval


def test_npz_not_an_archive(tmp_path):
  path = tmp_path / "junk.npz"
  path.write_text("not a zip")
  with pytest.raises(DataError, match="cannot read"):
    datasets.load_npz(str(path))


def test_image_folder(tmp_path):
  from PIL import Image
  rng = np.random.RandomState(1)
  for i in range(12):
    Image.fromarray(rng.randint(0, 256, (8, 8), dtype=np.uint8)).save(
        tmp_path / f"{i:02d}.png")
  data = datasets.load_data(ExperimentConfig.from_flat(
      dataset=f"images:{tmp_path}").validate())
  assert data.image_shape == (8, 8, 1)
  Image.fromarray(rng.randint(0, 256, (9, 9), dtype=np.uint8)).save(
      tmp_path / "odd.png")
  with pytest.raises(DataError, match="differ in size"):
    datasets.load_image_folder(str(tmp_path))


def test_tfds_path_with_mock_data():
  """The real TFDS loading code, fed by TFDS' own offline mock data."""
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=40):
    data = datasets.load_data(ExperimentConfig.from_flat(
        dataset="tfds:mnist").validate())
  assert data.image_shape == (28, 28, 1)
  assert data.train.dtype == np.uint8
  assert data.num_train == 40 and data.validation.shape[0] == 40


def test_tfds_unknown_name_is_one_line():
  with pytest.raises(DataError, match="tfds:no_such_dataset_xyz") as info:
    datasets.load_tfds("no_such_dataset_xyz")
  assert "\n" not in str(info.value)


def test_dsprites_streams_with_validation_subset():
  config = ExperimentConfig.from_flat(
      dataset="dsprites", max_examples=600, batch_size=32,
      architecture="conv").validate()
  data = datasets.load_data(config)
  assert data.image_shape == (64, 64, 1)
  assert data.validation.shape[0] == 60 and data.num_train == 540
  batch = next(iter(pipeline.train_dataset(data, 32, seed=0)))
  assert batch.shape[1:] == (64, 64, 1)
  assert set(np.unique(batch.numpy())) <= {0.0, 1.0}
