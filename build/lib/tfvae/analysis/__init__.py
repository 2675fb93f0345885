"""Analysis of many runs: sweeps over KL weightings and their reports."""
