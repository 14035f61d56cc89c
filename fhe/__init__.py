"""Encrypted matching with Zama concrete-python: the only package that imports concrete."""
