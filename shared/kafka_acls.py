"""The broker's ACLs made equal to shared/principals.py (CONTRACT.md's "written by"), and read back.

aiokafka 0.14 has no public ACL calls, but it ships the CreateAcls/DescribeAcls/DeleteAcls requests of the Kafka
protocol; they are sent through the admin client's own connection (its `_send_request`), as the admin principal.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest

from shared.principals import PRINCIPALS, Principal


class Resource(IntEnum):  # Kafka's ResourceType codes
    ANY = 1
    TOPIC = 2
    GROUP = 3


class Pattern(IntEnum):  # Kafka's PatternType codes
    ANY = 1
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):  # Kafka's AclOperation codes (READ and WRITE imply DESCRIBE)
    ANY = 1
    READ = 3
    WRITE = 4
    DESCRIBE = 8


ALLOW = 3  # AclPermissionType.ALLOW
ANY_PERMISSION = 1
ANY_HOST = "*"


@dataclass(frozen=True, order=True)
class Acl:
    principal: str  # User:<name>
    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation

    def __str__(self) -> str:
        return (f"{self.principal:<28} {self.operation.name:<6} {self.resource.name:<6} "
                f"{self.name:<28} {self.pattern.name}")


def acls_of(principal: Principal) -> set[Acl]:
    user = f"User:{principal.name}"
    found = {Acl(user, Resource.TOPIC, t, Pattern.LITERAL, Operation.WRITE) for t in principal.writes}
    found |= {Acl(user, Resource.TOPIC, t, Pattern.LITERAL, Operation.READ) for t in principal.reads}
    if principal.group is not None:
        found.add(Acl(user, Resource.GROUP, principal.group, Pattern.PREFIXED, Operation.READ))
    found |= {Acl(user, Resource.TOPIC, t, Pattern.LITERAL, Operation.DESCRIBE) for t in principal.describes}
    if principal.describes_groups is not None:
        found.add(Acl(user, Resource.GROUP, principal.describes_groups, Pattern.PREFIXED, Operation.DESCRIBE))
    return found


def wanted(principals: Iterable[Principal] = PRINCIPALS) -> set[Acl]:
    """Every ACL the table grants (super users, the broker and admin, need none)."""
    return set().union(*(acls_of(p) for p in principals))


async def listed(admin: AIOKafkaAdminClient) -> set[Acl]:
    """The ACLs the broker holds (ALLOW bindings; the scripts create no other)."""
    response = await admin._send_request(DescribeAclsRequest(Resource.ANY, None, Pattern.ANY, None, None,
                                                             Operation.ANY, ANY_PERMISSION))
    _check(response.error_code, response.error_message)
    return {Acl(principal, Resource(resource), name, Pattern(pattern), Operation(op))
            for resource, name, pattern, acls in response.resources
            for principal, _host, op, permission in acls if permission == ALLOW}


async def ensure(admin: AIOKafkaAdminClient, target: set[Acl] | None = None) -> tuple[set[Acl], set[Acl]]:
    """Makes the broker's ACLs exactly `target` (default: the table); returns (created, deleted)."""
    target = wanted() if target is None else target
    present = await listed(admin)
    for acl in sorted(target - present):
        response = await admin._send_request(CreateAclsRequest(acl.resource, acl.name, acl.pattern, acl.principal,
                                                               ANY_HOST, acl.operation, ALLOW))
        for code, message in response.creation_responses:
            _check(code, message)
    for acl in sorted(present - target):
        response = await admin._send_request(DeleteAclsRequest(acl.resource, acl.name, acl.pattern, acl.principal,
                                                               ANY_HOST, acl.operation, ALLOW))
        for code, message, _matches in response.filter_responses:
            _check(code, message)
    return target - present, present - target


def _check(code: int, message: Any) -> None:
    if code:
        raise for_code(code)(f"ACL request refused: {message}")
