"""`postloan login` / `logout`: sign in as a staff member through the device grant (cli/tokens.py)."""

import jwt

from cli.app import app, console, fail
from cli.tokens import NotSignedIn, access_token, device_sign_in, sign_out, token_file


def _tell(url: str, code: str, expires_in: int) -> None:
    console.print(f"Open [bold]{url}[/bold] in a browser and sign in (code [bold]{code}[/bold], valid "
                  f"{expires_in // 60} min). Waiting…")


@app.command("login")
def login() -> None:
    """Sign in as a staff member (device grant); later commands call the services with this sign-in."""
    try:
        device_sign_in(_tell)
        claims = jwt.decode(access_token(), options={"verify_signature": False})  # only to greet: the services check
    except NotSignedIn as exc:
        fail(str(exc))
    roles = sorted(set(claims.get("realm_access", {}).get("roles", [])) - {"offline_access", "uma_authorization"})
    console.print(f"signed in as [bold]{claims.get('preferred_username')}[/bold] "
                  f"({', '.join(r for r in roles if not r.startswith('default-roles'))}); token in {token_file()}")


@app.command("logout")
def logout() -> None:
    """Forget the stored sign-in."""
    console.print("signed out" if sign_out() else "not signed in")
