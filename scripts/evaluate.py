#!/usr/bin/env python3
"""Evaluates a trained tfvae run: `tfvae-evaluate`; see tfvae/cli/evaluate.py."""

from tfvae.cli.evaluate import __doc__, run  # pylint: disable=redefined-builtin

if __name__ == "__main__":
  run()
