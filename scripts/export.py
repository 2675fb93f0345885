#!/usr/bin/env python3
"""Exports a trained tfvae model for TF Serving: `tfvae-export`; see
tfvae/cli/export.py for the flags."""

from tfvae.cli.export import run

if __name__ == "__main__":
  run()
