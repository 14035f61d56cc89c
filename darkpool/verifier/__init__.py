"""The verifier role: independent re-evaluation of FHE rounds, signed, with evaluation keys only.

See :mod:`darkpool.verifier.core` for what it checks and :mod:`darkpool.verifier.api` for its HTTP
interface (``darkpool verifier``).
"""

from darkpool.verifier.api import create_verifier_app

__all__ = ["create_verifier_app"]
