"""structlog set-up shared by every service: JSON off a TTY, personal data masked before any output.

Nothing here decides what to log; it only shapes and redacts what services log.
"""

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import structlog

# Keys whose values are personal data whatever they hold (STYLE §6).
PII_KEYS = frozenset({"name", "phone", "id_number", "email", "customer_name", "contact", "address_line"})
# One pass over the text: mainland mobile numbers, 18-digit ID numbers, e-mail addresses.
_PII = re.compile(
    r"(?<![0-9])(?:\+?86[- ]?)?1[3-9][0-9]{9}(?![0-9])"
    r"|(?<![0-9])[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx](?![0-9])"
    r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
)
MASK = "***"
_SHORTEST_PII = 6  # "a@b.cn"; phone and ID numbers are longer


def mask_text(text: str) -> str:
    """Masks phone numbers, ID numbers and e-mail addresses inside free text."""
    return _PII.sub(MASK, text) if len(text) >= _SHORTEST_PII else text


def redact(value: Any, key: str | None = None) -> Any:
    if key is not None and key.lower() in PII_KEYS and value is not None:
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def redact_processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {k: redact(v, k) for k, v in event_dict.items()}


def configure_logging(service: str, level: str = "INFO", *, json: bool | None = None, once: bool = False) -> None:
    """structlog renders its own events straight to stderr (cheap on a hot path); the standard library's
    records (FastStream, aiokafka, uvicorn) go through the same processors, so every line is shaped and
    redacted alike. `once`: the process configures logging once for its life (a service's main), so each
    logger is built on its first use and kept, instead of on every call (a few per cent of a busy service)."""
    use_json = (not sys.stderr.isatty()) if json is None else json
    numeric = logging.getLevelName(level.upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _add_service(service),
        redact_processor,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=once,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # Libraries that install their own handlers would bypass redaction: their records go through ours.
    for name in ("faststream", "faststream.access", "uvicorn", "uvicorn.error", "uvicorn.access"):
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
    for noisy in ("aiokafka", "asyncio", "sqlalchemy.engine", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def _add_service(service: str) -> Any:
    def processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    return processor
