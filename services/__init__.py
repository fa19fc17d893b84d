"""The five postloan services; each is its own deployable process and imports none of the others.

`SERVICES` is the one list of them (name -> default HTTP port): the scripts (`python -m services`), the CLI,
the docs generator and the tests read it; `docker-compose.yml` is checked against it by a unit test.
"""

SERVICES: dict[str, int] = {"requests": 8001, "confirmation": 8002, "appointments": 8003, "notifier": 8004,
                           "console": 8005}
