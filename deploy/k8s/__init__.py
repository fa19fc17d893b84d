"""Kubernetes manifests: the generator of the parts derived from the code, and their offline validation."""
