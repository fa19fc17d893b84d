"""The platform's launchers and manifests; Python here only generates and checks them (deploy/k8s)."""
