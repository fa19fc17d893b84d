"""Who may write and read each topic: CONTRACT.md's "written by" column as data, in one place.

The broker's ACLs are generated from this table (shared.kafka_acls.ensure) and every consumer accepts on a
topic only the CloudEvent `source` values of the topic's writers (`accepts`); the scripts create one SCRAM
credential per principal listed here. Pure data: no I/O, no rules of any service.
"""

import dataclasses
from dataclasses import dataclass
from functools import cache
from typing import Final

from shared import topics


@dataclass(frozen=True)
class Principal:
    """A Kafka user (`User:<name>`) and what it may do; `source` is the CloudEvent source it writes with (a value
    or a prefix before `/`: `channels` covers `channels/app`)."""

    name: str
    source: str | None = None
    writes: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    group: str | None = None  # the consumer-group prefix it may join (PREFIXED, so copies and tests' groups work)
    # Offsets it may look at without reading a record: topics' end offsets and the committed offsets of the groups
    # under this prefix (the consumer lag of other services).
    describes: tuple[str, ...] = ()
    describes_groups: str | None = None


def _service(name: str, produces: str | None, consumes: tuple[str, ...], also_reads: tuple[str, ...] = ()) -> Principal:
    """A postloan service: writes its own events (if any) and the dead letters of what it consumes, reads what it
    consumes, joins its own groups."""
    own = () if produces is None else (produces,)
    return Principal(f"postloan-{name}", f"postloan/{name}", writes=(*own, *map(topics.dlq, consumes)),
                     reads=(*consumes, *also_reads), group=f"postloan.{name}")


EVENTS: Final = (topics.REQUESTS_EVENTS, topics.CONFIRMATION_EVENTS, topics.APPOINTMENTS_EVENTS,
                 topics.NOTIFICATIONS_EVENTS)
DEAD_LETTERS: Final = tuple(topics.dlq(t) for t in topics.ALL)

REQUESTS = _service("requests", topics.REQUESTS_EVENTS,
                    (topics.LOANS_SNAPSHOTS, topics.REQUESTS_COMMANDS, topics.CONFIRMATION_EVENTS))
CONFIRMATION = _service("confirmation", topics.CONFIRMATION_EVENTS,
                        (topics.LOANS_SNAPSHOTS, topics.REQUESTS_EVENTS, topics.CONFIRMATION_COMMANDS))
APPOINTMENTS = _service("appointments", topics.APPOINTMENTS_EVENTS, (topics.APPOINTMENTS_COMMANDS,))
NOTIFIER = _service("notifier", topics.NOTIFICATIONS_EVENTS,
                    (topics.LOANS_SNAPSHOTS, topics.REQUESTS_EVENTS, topics.CONFIRMATION_EVENTS,
                     topics.APPOINTMENTS_EVENTS))
# The staff console: a reader of every event stream (its read models); it writes nothing of its own (staff actions
# go through the owning services' HTTP APIs) and reads the dead-letter topics' offsets only, to count them. It also
# measures every service's consumer lag (shared.lag), so it may describe every topic and every postloan group.
CONSOLE = dataclasses.replace(
    _service("console", None, (topics.REQUESTS_EVENTS, topics.CONFIRMATION_EVENTS, topics.APPOINTMENTS_EVENTS),
             also_reads=DEAD_LETTERS),
    describes=topics.ALL, describes_groups="postloan.")
CORE_BANKING = Principal("core-banking", "core-banking", writes=(topics.LOANS_SNAPSHOTS,))
CHANNELS = Principal("channels", "channels", writes=(topics.REQUESTS_COMMANDS, topics.APPOINTMENTS_COMMANDS))
# CONTRACT: requests.commands is written by "channels, staff tools" (a hotline submission), confirmation.commands
# by "call-centre and service-centre tools" (outcomes, paper signatures, remote signing).
CALL_CENTRE = Principal("call-centre", "call-centre", writes=(topics.CONFIRMATION_COMMANDS, topics.REQUESTS_COMMANDS))
OPERATORS = Principal("operators", "operators", writes=(topics.APPOINTMENTS_COMMANDS,))
DASHBOARDS = Principal("dashboards", reads=EVENTS, group="dashboards")
OPS = Principal("ops", reads=DEAD_LETTERS, group="ops")

ADMIN: Final = "admin"  # super user: creates topics and ACLs (the scripts); no service runs as it
BROKER: Final = "broker"  # super user: the broker itself (inter-broker and controller listeners)
PRINCIPALS: Final = (REQUESTS, CONFIRMATION, APPOINTMENTS, NOTIFIER, CONSOLE, CORE_BANKING, CHANNELS, CALL_CENTRE,
                     OPERATORS, DASHBOARDS, OPS)
BY_NAME: Final = {p.name: p for p in PRINCIPALS}
ALL_NAMES: Final = (ADMIN, BROKER, *BY_NAME)  # every SCRAM credential the scripts create


def service(name: str) -> Principal:
    """The principal a postloan service runs as."""
    return BY_NAME[f"postloan-{name}"]


def writers(topic: str) -> tuple[Principal, ...]:
    return tuple(p for p in PRINCIPALS if topic in p.writes)


def writer_of(topic: str) -> Principal:
    """The principal a tool writes `topic` as (the first writer CONTRACT names)."""
    found = writers(topic)
    if not found:
        raise ValueError(f"nobody may write {topic}")
    return found[0]


@cache
def sources(topic: str) -> tuple[str, ...]:
    """The CloudEvent sources accepted on `topic`: its writers' (worked out once per topic: every record consumed
    is checked against them)."""
    return tuple(p.source for p in writers(topic) if p.source is not None)


@cache
def written_by_services(topic: str) -> bool:
    """Whether only postloan services write `topic` (their events, the dead letters): a record there was caused by
    one the platform handled, never a first step from outside (shared.tracing.consuming)."""
    found = writers(topic)
    return bool(found) and all(p.name.startswith("postloan-") for p in found)


def accepts(topic: str, source: str) -> bool:
    """CONTRACT "Who may write": a record on `topic` must carry one of its writers' sources (or a sub-source)."""
    return any(source == s or source.startswith(f"{s}/") for s in sources(topic))


if __name__ == "__main__":  # the scripts create one SCRAM credential per name printed here
    print("\n".join(ALL_NAMES))  # noqa: T201
