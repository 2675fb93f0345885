"""Tests for tfvae.data.dsprites: factor indexing, rendering, streaming and the npz reader."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tfvae.data import dsprites
from tfvae.errors import ConfigError, DataError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def data():
  return dsprites.DSpritesLike()


def _factors(shape=0, scale=5, orientation=0, pos_x=16, pos_y=16):
  return np.array([[shape, scale, orientation, pos_x, pos_y]])


def _centroid(image):
  rows, cols = np.nonzero(image[..., 0])
  return rows.mean(), cols.mean()


def test_constants_follow_the_dsprites_grid():
  assert dsprites.FACTOR_NAMES == ("shape", "scale", "orientation", "posX", "posY")
  assert dsprites.FACTOR_SIZES == (3, 6, 40, 32, 32)
  assert dsprites.NUM_IMAGES == 737280 == np.prod(dsprites.FACTOR_SIZES)
  np.testing.assert_array_equal(dsprites.FACTOR_BASES, [245760, 40960, 1024, 32, 1])
  assert [len(v) for v in dsprites.FACTOR_VALUES] == list(dsprites.FACTOR_SIZES)
  np.testing.assert_allclose(dsprites.FACTOR_VALUES[1], [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
  assert dsprites.FACTOR_VALUES[2][0] == 0.0
  assert dsprites.FACTOR_VALUES[2][-1] == pytest.approx(2 * np.pi)


def test_every_index_maps_to_a_distinct_factor_tuple_and_back(data):
  indices = np.arange(dsprites.NUM_IMAGES)
  factors = data.index_to_factors(indices)
  assert factors.shape == (dsprites.NUM_IMAGES, 5)
  np.testing.assert_array_equal(factors.min(axis=0), 0)
  np.testing.assert_array_equal(factors.max(axis=0) + 1, dsprites.FACTOR_SIZES)
  np.testing.assert_array_equal(data.factors_to_index(factors), indices)
  # A bijection onto the grid: mixed-radix codes of the tuples are all distinct.
  codes = np.ravel_multi_index(tuple(factors.T), dsprites.FACTOR_SIZES)
  assert len(np.unique(codes)) == dsprites.NUM_IMAGES
  # posY varies fastest, then posX.
  np.testing.assert_array_equal(data.index_to_factors([1, 32, 1024]),
                                [[0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 1, 0, 0]])


def test_out_of_range_indices_and_factors_raise(data):
  with pytest.raises(DataError):
    data.index_to_factors([dsprites.NUM_IMAGES])
  with pytest.raises(DataError):
    data.render([[3, 0, 0, 0, 0]])
  with pytest.raises(DataError):
    data.factors_to_index([[0, 0, 0, 0]])


def test_render_is_binary_uint8_and_deterministic(data):
  rng = np.random.RandomState(0)
  factors = data.sample_factors(200, rng)
  images = data.render(factors)
  assert images.shape == (200, 64, 64, 1) and images.dtype == np.uint8
  assert set(np.unique(images)) <= {0, 1}
  np.testing.assert_array_equal(images, dsprites.DSpritesLike().render(factors))
  np.testing.assert_array_equal(images, data.sample_observations_from_factors(factors, rng))
  np.testing.assert_array_equal(images, data.images(data.factors_to_index(factors)))


def test_every_sprite_stays_inside_the_canvas(data):
  masks = data.sprite_masks
  assert masks.shape == (3, 6, 40, dsprites.PATCH_SIZE, dsprites.PATCH_SIZE)
  # The patch's outer ring is empty, so no shape is clipped by the patch.
  ring = masks.copy()
  ring[..., 1:-1, 1:-1] = 0
  assert ring.sum() == 0
  assert masks.sum(axis=(-1, -2)).min() > 0
  grid = np.stack(np.meshgrid(*[np.arange(n) for n in (3, 6, 40)], [0, 31], [0, 31],
                              indexing="ij"), axis=-1).reshape(-1, 5)
  images = data.render(grid)
  np.testing.assert_array_equal(images.sum(axis=(1, 2, 3)),
                                masks[grid[:, 0], grid[:, 1], grid[:, 2]].sum(axis=(1, 2)))
  border = images.copy()
  border[:, 1:-1, 1:-1] = 0
  assert border.sum() == 0


def test_pixel_mass_grows_with_scale(data):
  # Every (shape, orientation): each scale step adds pixels, none is lost to quantisation.
  grid = np.stack(np.meshgrid(range(3), range(6), range(40), [16], [16], indexing="ij"),
                  -1).reshape(-1, 5)
  mass = data.render(grid).sum(axis=(1, 2, 3)).astype(int).reshape(3, 6, 40)
  assert np.all(np.diff(mass, axis=1) > 0)


def test_centroid_moves_right_with_pos_x_and_down_with_pos_y(data):
  for shape in range(3):
    along_x = data.render(np.concatenate([_factors(shape, pos_x=x) for x in range(32)]))
    along_y = data.render(np.concatenate([_factors(shape, pos_y=y) for y in range(32)]))
    x_centroids = np.array([_centroid(image) for image in along_x])
    y_centroids = np.array([_centroid(image) for image in along_y])
    assert np.all(np.diff(x_centroids[:, 1]) >= 1)  # Columns grow, each step moves.
    np.testing.assert_allclose(x_centroids[:, 0], x_centroids[0, 0])  # Rows fixed.
    assert np.all(np.diff(y_centroids[:, 0]) >= 1)
    np.testing.assert_allclose(y_centroids[:, 1], y_centroids[0, 1])


def test_shapes_give_different_masks(data):
  images = data.render(np.concatenate([_factors(shape) for shape in range(3)]))
  for a in range(3):
    for b in range(a + 1, 3):
      assert np.sum(images[a] != images[b]) > 10


def test_orientation_rotates_and_wraps_around(data):
  square = data.render(np.concatenate([_factors(0, orientation=o) for o in (0, 5)]))
  assert np.sum(square[0] != square[1]) > 10
  first = np.stack(np.meshgrid(range(3), range(6), [0], [7], [20], indexing="ij"),
                   -1).reshape(-1, 5)
  last = first.copy()
  last[:, 2] = 39
  np.testing.assert_array_equal(data.render(first), data.render(last))


def test_iterate_streams_a_subset_in_order(data):
  indices = np.array([5, 737279, 0, 1234, 99999, 42, 7])
  batches = list(data.iterate(3, indices))
  assert [len(b[0]) for b in batches] == [3, 3, 1]
  np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), data.images(indices))
  np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]),
                                data.index_to_factors(indices))
  with pytest.raises(ConfigError):
    next(data.iterate(0))


def test_ground_truth_interface(data):
  assert data.num_factors == 5
  assert data.factors_num_values == [3, 6, 40, 32, 32]
  assert data.observation_shape == (64, 64, 1)
  factors = data.sample_factors(1000, np.random.RandomState(1))
  assert factors.shape == (1000, 5)
  np.testing.assert_array_equal(factors.max(axis=0) + 1, dsprites.FACTOR_SIZES)


def test_tf_dataset_yields_uint8_batches_and_reshuffles(data):
  indices = np.arange(100, 110)
  plain = list(data.tf_dataset(4, indices).as_numpy_iterator())
  assert [b.shape for b in plain] == [(4, 64, 64, 1), (4, 64, 64, 1), (2, 64, 64, 1)]
  assert plain[0].dtype == np.uint8
  np.testing.assert_array_equal(np.concatenate(plain), data.images(indices))

  shuffled = data.tf_dataset(10, indices, shuffle_seed=3)
  epoch1 = next(iter(shuffled)).numpy()
  epoch2 = next(iter(shuffled)).numpy()
  again = next(iter(data.tf_dataset(10, indices, shuffle_seed=3))).numpy()
  np.testing.assert_array_equal(epoch1, again)
  assert not np.array_equal(epoch1, epoch2)

  def keys(images):
    return sorted(image.tobytes() for image in images)
  assert keys(epoch1) == keys(epoch2) == keys(data.images(indices))

  first = next(iter(data.tf_dataset(2))).numpy()
  np.testing.assert_array_equal(first, data.images([0, 1]))


def test_shuffled_stream_is_each_epochs_permutation_batched(data):
  """Epoch e streams indices[perm_e] in batches, perm_e the e-th permutation
  of RandomState(seed) (the order the stream has always had)."""
  indices = np.random.RandomState(9).permutation(dsprites.NUM_IMAGES)[:50]
  stream = data.tf_dataset(16, indices, shuffle_seed=4).repeat()
  rng = np.random.RandomState(4)
  expected = []
  for _ in range(3):
    order = indices[rng.permutation(len(indices))]
    expected += [data.images(order[i:i + 16]) for i in range(0, 50, 16)]
  got = list(stream.take(len(expected)).as_numpy_iterator())
  assert [b.shape[0] for b in got] == [16, 16, 16, 2] * 3
  for want, batch in zip(expected, got):
    np.testing.assert_array_equal(batch, want)


def test_stream_makes_no_generator_dataset(data):
  """TensorFlow's generator dataset sets mallopt(M_TRIM_THRESHOLD) for the
  whole process, after which every large tensor of a training step is
  mmap-ed afresh (docs/performance.md): the stream must not use one."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  graph = data.tf_dataset(8, np.arange(40), shuffle_seed=1)._as_serialized_graph(
      external_state_policy=tf.data.experimental.ExternalStatePolicy.IGNORE)
  definition = tf.compat.v1.GraphDef.FromString(graph.numpy())
  ops = {node.op for node in definition.node}
  ops |= {node.op for f in definition.library.function for node in f.node_def}
  assert "PyFunc" in ops or "EagerPyFunc" in ops  # the graph is inspected
  assert not any("Generator" in op for op in ops), ops


def test_streaming_the_full_set_stays_below_one_gigabyte():
  script = textwrap.dedent("""
      import json, psutil
      import numpy as np
      from tfvae.data.dsprites import DSpritesLike
      process = psutil.Process()
      data = DSpritesLike()
      baseline = process.memory_info().rss
      peak, count, mass = baseline, 0, 0
      for images, factors in data.iterate(8192):
        count += len(images)
        mass += int(images.sum(dtype=np.int64))
        peak = max(peak, process.memory_info().rss)
      print(json.dumps({"count": count, "mass": mass, "extra": peak - baseline}))
      """)
  result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300, check=True)
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert report["count"] == dsprites.NUM_IMAGES
  assert report["mass"] > 0
  assert report["extra"] < 2**30


def _synthetic_file(directory, data, compressed, num=12, **overrides):
  rng = np.random.RandomState(0)
  indices = rng.choice(dsprites.NUM_IMAGES, size=num, replace=False)
  factors = data.index_to_factors(indices)
  arrays = {
      "imgs": data.images(indices)[..., 0],
      "latents_classes": np.concatenate([np.zeros((num, 1), np.int64), factors], axis=1),
      "latents_values": np.zeros((num, 6)),
  }
  arrays.update(overrides)
  arrays = {key: value for key, value in arrays.items() if value is not None}
  path = os.path.join(directory, "compressed.npz" if compressed else "stored.npz")
  (np.savez_compressed if compressed else np.savez)(path, **arrays)
  return path, indices, factors


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_reader_matches_the_file(tmp_path, data, compressed):
  path, indices, factors = _synthetic_file(str(tmp_path), data, compressed)
  npz = dsprites.DSpritesNpz(path)
  assert npz.num_images == 12 and not npz.is_full_grid
  assert npz.num_factors == 5 and npz.observation_shape == (64, 64, 1)
  np.testing.assert_array_equal(npz.index_to_factors(np.arange(12)), factors)
  np.testing.assert_array_equal(npz.factors_to_index(factors[::-1]), np.arange(12)[::-1])
  np.testing.assert_array_equal(npz.images(np.arange(12)), data.images(indices))
  rng = np.random.RandomState(4)
  sampled = npz.sample_factors(30, rng)
  np.testing.assert_array_equal(npz.sample_observations_from_factors(sampled, rng),
                                data.render(sampled))
  streamed = list(npz.iterate(5))
  np.testing.assert_array_equal(np.concatenate([b[0] for b in streamed]), data.images(indices))
  absent = data.index_to_factors([i for i in range(20) if i not in indices][:1])
  with pytest.raises(DataError, match="not in"):
    npz.factors_to_index(absent)


def test_npz_reader_memory_maps_uncompressed_files(tmp_path, data):
  path, _, _ = _synthetic_file(str(tmp_path), data, compressed=False)
  assert isinstance(dsprites._memory_map_npz_member(path, "imgs"), np.memmap)
  path, _, _ = _synthetic_file(str(tmp_path), data, compressed=True)
  assert dsprites._memory_map_npz_member(path, "imgs") is None


def test_npz_reader_rejects_bad_files(tmp_path, data):
  directory = str(tmp_path)
  with pytest.raises(DataError, match="not found"):
    dsprites.DSpritesNpz(os.path.join(directory, "missing.npz"))
  path, _, _ = _synthetic_file(directory, data, False, latents_classes=None)
  with pytest.raises(DataError, match="latents_classes"):
    dsprites.DSpritesNpz(path)
  path, _, _ = _synthetic_file(directory, data, True, imgs=np.zeros((12, 32, 32), np.uint8))
  with pytest.raises(DataError, match=r"\[N, 64, 64\]"):
    dsprites.DSpritesNpz(path)
  path, _, _ = _synthetic_file(directory, data, False,
                               latents_classes=np.zeros((11, 6), np.int64))
  with pytest.raises(DataError, match="shape"):
    dsprites.DSpritesNpz(path)
  path, _, _ = _synthetic_file(directory, data, False,
                               latents_classes=np.full((12, 6), 40, np.int64))
  with pytest.raises(DataError, match="outside"):
    dsprites.DSpritesNpz(path)
  garbage = os.path.join(directory, "garbage.npz")
  with open(garbage, "w") as stream:
    stream.write("not a zip file\n")
  with pytest.raises(DataError):
    dsprites.DSpritesNpz(garbage)
