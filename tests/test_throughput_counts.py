"""The throughput benchmark's FLOP count and its layers-alone timing.

The percentages of peak in docs/performance.md divide by these counts, so
they are checked against the multiply-adds of the beta-VAE conv networks
worked out by hand from their shapes; the layers-alone step must run every
layer's forward pass and every gradient a training step takes.
"""

import importlib.util
import os
import sys

import numpy as np
import tensorflow as tf

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
_SPEC = importlib.util.spec_from_file_location(
    "throughput", os.path.join(ROOT, "benchmarks", "throughput.py"))
throughput = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(throughput)

from tfvae import networks  # pylint: disable=wrong-import-position


def conv64_networks():
  encoder = networks.build_encoder((64, 64, 1), 10, "conv")
  decoder = networks.build_decoder((64, 64, 1), 10, 1, "conv")
  return encoder, decoder


def test_conv64_multiply_adds_match_the_hand_count():
  encoder, decoder = conv64_networks()
  # Conv2D k4 s2 "same": output pixels x 16 taps x c_in x c_out.
  convolutions = (32 * 32 * 16 * 1 * 32 + 16 * 16 * 16 * 32 * 32
                  + 8 * 8 * 16 * 32 * 64 + 4 * 4 * 16 * 64 * 64)
  encoder_dense = 1024 * 256 + 2 * 256 * 10
  # The transposed convolutions scatter each input pixel: the same products
  # in reverse order.
  decoder_dense = 10 * 256 + 256 * 1024
  assert throughput.forward_multiply_adds(encoder) == (convolutions
                                                       + encoder_dense)
  assert throughput.forward_multiply_adds(decoder) == (convolutions
                                                       + decoder_dense)
  # 3 products (forward, input and weight gradients) x 2 FLOPs x batch.
  expected = 3 * 2 * 128 * (2 * convolutions + encoder_dense + decoder_dense)
  assert throughput.train_flops_per_step(encoder, decoder, 128) == expected
  assert round(expected / 1e9, 3) == 12.488  # the number in the docs


def test_layers_alone_take_every_gradient_of_a_step():
  encoder, decoder = conv64_networks()
  work = throughput.math_layer_work(encoder, decoder)
  assert len(work) == 13  # 4 conv + dense + 2 heads; dense x 2 + 4 tconv
  # Only the encoder's first layer (it reads the data) needs no input
  # gradient.
  assert [needs for _, _, needs in work] == [False] + [True] * 12
  layer, shape, needs = work[0]
  x = tf.constant(np.random.default_rng(0).random((2,) + shape), tf.float32)
  output, kernel_gradient, bias_gradient = throughput.layer_gradients(
      layer, x, needs)
  assert output.shape == (2, 32, 32, 32)
  # d sum(relu(conv(x) + b)) / db: the number of active outputs per filter.
  active = tf.reduce_sum(tf.cast(output > 0, tf.float32), axis=(0, 1, 2))
  np.testing.assert_allclose(bias_gradient.numpy(), active.numpy())
  assert kernel_gradient.shape == layer.kernel.shape
  second, second_shape, _ = work[1]
  *_, input_gradient = throughput.layer_gradients(
      second, tf.zeros((2,) + second_shape), True)
  assert input_gradient.shape == (2,) + second_shape
  runner = throughput.layers_alone_runner("layers", encoder, decoder, 4)
  runner.time(2)
  assert len(runner.rates) == 1 and runner.rates[0] > 0
