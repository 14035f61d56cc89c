"""The demo: the whole flow, from deposits through FHE and commit-reveal rounds to settlement and audit."""
