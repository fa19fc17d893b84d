"""Secrets kept one per file, generated on first use: folders 0700, files 0600, never committed; and the state
folder the scripts keep them (and data, logs, the CLI's sign-in) in.

One implementation for the database roles' passwords (shared.db_roles), Keycloak's admin, users and clients
(shared.keycloak_admin, deploy/keycloak.sh through the command line below). Two processes generating the same
secret at once agree on one: the first complete file wins (a hard link never shows a half-written file).
"""

import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def state_dir() -> Path:
    """The scripts' state folder (`POSTLOAN_STATE_DIR`, default `<project>/.local`), as deploy/*.sh compute it."""
    return Path(os.environ.get("POSTLOAN_STATE_DIR") or ROOT / ".local")


def secret(path: Path) -> str:
    """The secret in `path`, generated when the file is missing or empty (192 bits as hex: safe in URLs, shells
    and JSON)."""
    if path.exists() and path.stat().st_size > 0:  # also a container's read-only /run/secrets
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    draft = path.parent / f".{path.name}.{os.getpid()}.tmp"
    with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as out:
        out.write(secrets.token_hex(24) + "\n")
    if path.exists():  # an empty file (a generation cut short): replaced
        path.unlink(missing_ok=True)
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text(encoding="utf-8").strip()


if __name__ == "__main__":  # python -m shared.secret_files PATH: prints the secret, generating it first if need be
    print(secret(Path(sys.argv[1])))  # noqa: T201 - the output the scripts read
