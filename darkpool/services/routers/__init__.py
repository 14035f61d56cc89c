"""One router per resource of the operator API."""
