"""`python -m services`: one line per service, `<name> <default HTTP port>`, for the shell scripts."""

from services import SERVICES

for name, port in SERVICES.items():
    print(name, port)  # noqa: T201 - the scripts read this output
