"""How every Kafka client of the project connects: SASL_SSL with SCRAM-SHA-512 (the scripts' broker) or PLAINTEXT.

One `KafkaAccess` gives the aiokafka keyword arguments (producers, consumers, the admin client) and FastStream's
security object, so the service runtime, the relay (also as a child process), the admin script, the CLI, the tests
and the benchmarks connect the same way. Credentials live in the state folder the scripts fill
(`$state/secrets/kafka/<principal>.password`, the CA in `$state/secrets/tls/ca.pem`); nothing here logs a password.
"""

import os
import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from faststream.security import BaseSecurity, SASLScram512
from pydantic import SecretStr

from shared.secret_files import state_dir

Protocol = Literal["SASL_SSL", "PLAINTEXT"]
MECHANISM = "SCRAM-SHA-512"


def password_file(principal: str, state: Path | None = None) -> Path:
    return (state or state_dir()) / "secrets" / "kafka" / f"{principal}.password"


def ca_file(state: Path | None = None) -> Path:
    return (state or state_dir()) / "secrets" / "tls" / "ca.pem"


@dataclass(frozen=True)
class KafkaAccess:
    """Where the broker is and who connects to it."""

    bootstrap: str
    protocol: Protocol = "PLAINTEXT"
    username: str = ""
    password: SecretStr = field(default=SecretStr(""), repr=False)
    ca_file: str = ""  # PEM bundle the broker's certificate must chain to; empty means the system's trust store

    def __post_init__(self) -> None:
        if self.protocol == "SASL_SSL" and not (self.username and self.password.get_secret_value()):
            raise ValueError(f"Kafka over SASL_SSL needs a user name and a password (user {self.username!r})")

    @property
    def servers(self) -> list[str]:
        """The bootstrap's `host:port` entries. Given as a list to every client: FastStream takes a string for one
        server, so "a:9092,b:9094" handed to it whole is one host that resolves nowhere."""
        return [s.strip() for s in self.bootstrap.split(",") if s.strip()]

    def as_user(self, username: str, password: str) -> "KafkaAccess":
        """The same broker, as another principal."""
        return replace(self, username=username, password=SecretStr(password))

    def ssl_context(self) -> ssl.SSLContext:
        # Hostname checking stays on: the broker's certificate names 127.0.0.1, localhost and kafka (compose).
        return ssl.create_default_context(cafile=self.ca_file or None)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
        if self.protocol == "PLAINTEXT":
            return {"bootstrap_servers": self.servers}
        return {"bootstrap_servers": self.servers, "security_protocol": "SASL_SSL", "sasl_mechanism": MECHANISM,
                "sasl_plain_username": self.username, "sasl_plain_password": self.password.get_secret_value(),
                "ssl_context": self.ssl_context()}

    def faststream_security(self) -> BaseSecurity | None:
        """FastStream's KafkaBroker(security=...) for the same access."""
        if self.protocol == "PLAINTEXT":
            return None
        return SASLScram512(self.username, self.password.get_secret_value(), ssl_context=self.ssl_context())

    def environment(self, prefix: str) -> dict[str, str]:
        """The access as settings variables under `prefix` (a child process reads them back with `from_env`); the
        password travels in the environment, never on a command line."""
        return {f"{prefix}KAFKA_BOOTSTRAP": self.bootstrap, f"{prefix}KAFKA_SECURITY_PROTOCOL": self.protocol,
                f"{prefix}KAFKA_SASL_USERNAME": self.username, f"{prefix}KAFKA_CA_FILE": self.ca_file,
                f"{prefix}KAFKA_SASL_PASSWORD": self.password.get_secret_value()}

    @classmethod
    def from_env(cls, prefix: str, env: dict[str, str] | None = None) -> "KafkaAccess":
        env = dict(os.environ) if env is None else env
        protocol: Protocol = "SASL_SSL" if env.get(f"{prefix}KAFKA_SECURITY_PROTOCOL") == "SASL_SSL" else "PLAINTEXT"
        return cls(env[f"{prefix}KAFKA_BOOTSTRAP"], protocol, env.get(f"{prefix}KAFKA_SASL_USERNAME", ""),
                   SecretStr(env.get(f"{prefix}KAFKA_SASL_PASSWORD", "")), env.get(f"{prefix}KAFKA_CA_FILE", ""))


def local_access(principal: str, bootstrap: str, *, state: Path | None = None) -> KafkaAccess:
    """`principal`'s access to the scripts' broker, read from the state folder (SASL_SSL), or PLAINTEXT when
    `POSTLOAN_KAFKA_SECURITY_PROTOCOL=PLAINTEXT` says the broker is an open one."""
    if os.environ.get("POSTLOAN_KAFKA_SECURITY_PROTOCOL") == "PLAINTEXT":
        return KafkaAccess(bootstrap)
    secret = password_file(principal, state)
    if not secret.is_file():
        raise FileNotFoundError(f"no Kafka credentials for {principal} at {secret}: start the broker with "
                                "deploy/kafka.sh (it creates them), or set POSTLOAN_KAFKA_SECURITY_PROTOCOL=PLAINTEXT")
    return KafkaAccess(bootstrap, "SASL_SSL", principal, SecretStr(secret.read_text().strip()), str(ca_file(state)))
