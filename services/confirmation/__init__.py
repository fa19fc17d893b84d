"""The confirmation service: recorded-call confirmation of co-borrowers and the paper-document ledger."""
