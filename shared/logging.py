"""structlog set-up shared by every service: JSON off a TTY, personal data masked before any output.

Nothing here decides what to log; it only shapes and redacts what services log.
"""

import contextlib
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import structlog

from shared.redaction import redact

# What every line logged inside `log_context` carries (the message or timer being handled), as one dict.
_BOUND: ContextVar[dict[str, Any] | None] = ContextVar("postloan_log_fields", default=None)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Every line logged inside carries `fields` (a line's own fields win), nested binds adding to the outer.
    One context variable set and reset: structlog's `bound_contextvars` sets one per field, about eight times the
    cost for a consumed message's seven fields (16-22 µs against 2-3 µs, timeit), paid on every message, logged or
    not."""
    outer = _BOUND.get()
    token = _BOUND.set(fields if outer is None else {**outer, **fields})
    try:
        yield
    finally:
        _BOUND.reset(token)


class Logger:
    """A module's logger: `structlog.get_logger(name)`, whose methods are looked up once. structlog's lazy proxy
    finds `log.debug` only after a failed lookup whose error message is formatted, then binds and looks again, on
    every call (some 3,000 instructions, a debug line filtered out or not); once the configuration caches loggers
    (`configure_logging(once=True)`, as every service runs), the method found is kept here, as structlog keeps the
    logger it was found on."""

    def __init__(self, name: str) -> None:
        self._proxy = structlog.get_logger(name)

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._proxy, name)
        if structlog.get_config()["cache_logger_on_first_use"]:
            setattr(self, name, found)
        return found


def _merge_bound(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    if (fields := _BOUND.get()) is not None:
        for key, value in fields.items():
            event_dict.setdefault(key, value)
    return event_dict


def redact_processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {k: redact(v, k) for k, v in event_dict.items()}


def configure_logging(service: str, level: str = "INFO", *, json: bool | None = None, once: bool = False) -> None:
    """structlog renders its own events straight to stderr (cheap on a hot path); the standard library's
    records (FastStream, aiokafka, uvicorn) go through the same processors, so every line is shaped and
    redacted alike. `once`: the process configures logging once for its life (a service's main), so each
    logger is built on its first use and kept, instead of on every call (a few per cent of a busy service)."""
    use_json = (not sys.stderr.isatty()) if json is None else json
    # A service's main writes to its stderr for life; anyone else (tests, in-process tools) to stderr as it is
    # when written to, which a test harness swaps and closes between tests.
    stream: Any = sys.stderr if once else _CurrentStderr()
    numeric = logging.getLevelName(level.upper())
    shared: list[Any] = [
        _merge_bound,  # log_context's fields (nothing binds structlog's own context variables any more)
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
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=once,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
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


class _CurrentStderr:
    """`sys.stderr` looked up on every write."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _add_service(service: str) -> Any:
    def processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    return processor
