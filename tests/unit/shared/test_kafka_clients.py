"""How every Kafka client of the platform, its tools and benchmarks is set for a cluster (README "A three-broker
cluster"): each producer waits for all in-sync copies (`acks="all"`) and is idempotent, so that an acknowledged
record survives one broker's loss and a retry after it writes nothing twice (settings of each producer, checked in
the source); every client is given each broker of a comma-separated bootstrap."""

import ast
from pathlib import Path

import pytest

from services.requests.app import build_runtime
from services.requests.settings import Settings
from shared.kafka_security import KafkaAccess

ROOT = Path(__file__).resolve().parents[3]
SOURCES = sorted(p for folder in ("shared", "services", "cli", "bench", "harness")
                 for p in (ROOT / folder).rglob("*.py"))
PRODUCERS = {"AIOKafkaProducer", "KafkaBroker"}  # FastStream's broker object holds a producer of its own
# The relay's probe resends a record the broker refused inside a batch, alone and awaited, on a producer without
# sequence numbers (a refusal must spoil nothing sent after it); every other relay producer is idempotent.
NOT_IDEMPOTENT_BY_DESIGN = {("shared/relay.py", "idempotent")}


def producer_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) in PRODUCERS]


CALLS = [(path, call) for path in SOURCES for call in producer_calls(path)]


def test_the_producers_are_found() -> None:
    names = {str(path.relative_to(ROOT)) for path, _ in CALLS}
    assert {"shared/relay.py", "shared/runtime.py", "cli/kafka_io.py", "bench/requests_throughput.py"} <= names


@pytest.mark.parametrize(("path", "call"), CALLS, ids=lambda x: str(x.relative_to(ROOT)) if isinstance(x, Path)
                         else f"line {x.lineno}")
def test_every_producer_waits_for_all_copies_and_is_idempotent(path: Path, call: ast.Call) -> None:
    settings = {k.arg: k.value for k in call.keywords if k.arg}
    acks, idempotent = settings.get("acks"), settings.get("enable_idempotence")
    assert isinstance(acks, ast.Constant) and acks.value == "all", f"{path}:{call.lineno} acks"
    if isinstance(idempotent, ast.Name):
        assert (str(path.relative_to(ROOT)), idempotent.id) in NOT_IDEMPOTENT_BY_DESIGN, f"{path}:{call.lineno}"
    else:
        assert isinstance(idempotent, ast.Constant) and idempotent.value is True, f"{path}:{call.lineno} idempotence"


def test_every_client_is_given_each_broker_of_a_comma_separated_bootstrap() -> None:
    """FastStream takes a string for one server: the services' broker object gets the list (a cluster's
    `<SERVICE>_KAFKA_BOOTSTRAP` made every service fail at start-up, resolving "a:1,b:2,c" as one host)."""
    servers = ["127.0.0.1:9092", "127.0.0.1:9094", "127.0.0.1:9096"]
    access = KafkaAccess(" 127.0.0.1:9092, 127.0.0.1:9094,127.0.0.1:9096 ")
    assert access.servers == servers
    assert access.client_kwargs()["bootstrap_servers"] == servers
    runtime = build_runtime(Settings(kafka_bootstrap=",".join(servers), kafka_security_protocol="PLAINTEXT"))
    assert runtime.broker._connection_kwargs["bootstrap_servers"] == servers
