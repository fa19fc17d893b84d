"""`postloan`: the operator's command line (local stack helpers, publishing, following events)."""
