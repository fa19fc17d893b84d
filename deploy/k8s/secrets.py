"""The Secrets the manifests name that no operator makes: each service role's database password (CloudNativePG's
managed roles read it) and the console's session key. Strimzi makes the Kafka users' passwords and both operators
their CAs.

`python -m deploy.k8s.secrets | kubectl apply -n postloan -f -` — each value is generated on first use into a file
of its own (0600) under `$POSTLOAN_STATE_DIR/secrets/k8s/` (shared.secret_files, as the scripts' other secrets) and
the same value is printed again on every later run; nothing is written into the repository. Hex values: safe in the
database URL the pods build from the password.
"""

import sys
from pathlib import Path
from typing import Any

import yaml

from deploy.k8s import names
from services import SERVICES
from shared import db_roles
from shared.secret_files import secret, state_dir


def folder() -> Path:
    return state_dir() / "secrets" / "k8s"


def _secret(name: str, kind: str, data: dict[str, str], **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": kind,
            "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": names.PART_OF, **labels}},
            "stringData": data}


def documents(where: Path) -> list[dict[str, Any]]:
    """The Secrets, their values from (or generated into) `where`."""
    # CloudNativePG sets a role's new password when its Secret changes only if the Secret carries this label.
    roles = [_secret(names.db_secret(s), "kubernetes.io/basic-auth",
                     {"username": db_roles.role(s), "password": secret(where / names.db_secret(s))},
                     **{"cnpg.io/reload": "true"}) for s in SERVICES]
    session = _secret(names.CONSOLE_SESSION_SECRET, "Opaque",
                      {"session-key": secret(where / names.CONSOLE_SESSION_SECRET)})
    return [*roles, session]


if __name__ == "__main__":
    sys.stdout.write(yaml.safe_dump_all(documents(folder()), sort_keys=False))
