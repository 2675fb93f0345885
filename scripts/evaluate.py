#!/usr/bin/env python3
"""Evaluates a trained tfvae run: `tfvae-evaluate`; see tfvae/cli/evaluate.py."""

from tfvae.cli.evaluate import run

if __name__ == "__main__":
  run()
