"""The custodian's HTTP API: one router per resource, typed request and response schemas."""

from darkpool.custodian.api.app import create_custodian_app

__all__ = ["create_custodian_app"]
