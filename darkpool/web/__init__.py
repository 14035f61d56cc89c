"""What the operator and custodian services share: settings, serving, rate limits, the error table."""
