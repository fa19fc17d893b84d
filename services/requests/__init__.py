"""The requests service: loan projection, post-loan change requests and their decisions."""
