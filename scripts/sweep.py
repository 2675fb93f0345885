#!/usr/bin/env python3
"""Runs a sweep of training runs: `tfvae-sweep`; see tfvae/cli/sweep.py."""

from tfvae.cli.sweep import __doc__, run  # pylint: disable=redefined-builtin

if __name__ == "__main__":
  run()
