"""The one shape of a refusal in every service (SPEC §9): a code, the reason in plain words, the facts it rests on.

Each domain names its own codes (a `StrEnum`); the services answer with them on the wire (`CommandRejected`,
`RequestRejected`, `BookingRejected`) through `shared.messaging.MessageContext.refuse`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum


@dataclass(frozen=True)
class Refusal:
    code: StrEnum
    reason: str
    facts: Mapping[str, str] = field(default_factory=dict)

    def adding(self, **facts: str) -> "Refusal":
        """The same refusal with more facts, which only the caller knows (ids, the service time, the policy)."""
        return replace(self, facts={**self.facts, **facts})
