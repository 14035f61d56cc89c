"""``python -m darkpool.web [operator|custodian]``: run a service from ``DARKPOOL_*`` settings."""

from __future__ import annotations

import sys

from darkpool.exitstatus import run_keeping_status
from darkpool.web.serve import serve_custodian, serve_operator

if __name__ == "__main__":
    run_keeping_status(serve_custodian if sys.argv[1:2] == ["custodian"] else serve_operator)
