"""Commit-reveal rounds: sealed commitments, reveals, bonds, commitments root, fast clearing."""
