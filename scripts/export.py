#!/usr/bin/env python3
"""Exports a trained tfvae model for TF Serving: `tfvae-export`; see
tfvae/cli/export.py for the flags."""

from tfvae.cli.export import __doc__, run  # pylint: disable=redefined-builtin

if __name__ == "__main__":
  run()
