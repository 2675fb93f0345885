#!/usr/bin/env python3
"""Trains a tfvae model: `tfvae-train`; see tfvae/cli/train.py for the flags."""

from tfvae.cli.train import run

if __name__ == "__main__":
  run()
