"""The command-line programs: tfvae-train, tfvae-evaluate, tfvae-export,
tfvae-sweep (also `python scripts/<name>.py`).

Each program's `main` parses flags (`tfvae.cli.flags`, generated from the
config dataclasses), builds the config and calls library functions; `run()`
is the console entry point.
"""
