"""The four postloan services; each is its own deployable process and imports none of the others."""
