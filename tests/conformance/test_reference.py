"""The conformance suite on the two plaintext engines."""

from __future__ import annotations

from darkpool.clearing import clear_reference, clear_vectorized
from tests.conformance.suite import EngineConformance


class TestReferenceEngine(EngineConformance):
    engine = staticmethod(clear_reference)


class TestVectorizedEngine(EngineConformance):
    engine = staticmethod(clear_vectorized)
    generated_rounds = 1000
