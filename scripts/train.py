#!/usr/bin/env python3
"""Trains a tfvae model: `tfvae-train`; see tfvae/cli/train.py for the flags."""

from tfvae.cli.train import __doc__, run  # pylint: disable=redefined-builtin

if __name__ == "__main__":
  run()
