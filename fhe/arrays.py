"""Array type aliases shared by the concrete-free modules (encoding, transcript, shapes)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["IntArray"]

IntArray = npt.NDArray[np.int64]
"""A plain integer array: digits, masks, caps, decrypted outputs."""
