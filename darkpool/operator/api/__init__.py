"""The operator's HTTP API: one router per resource, typed request and response schemas."""
