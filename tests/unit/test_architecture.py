"""Guards of the layout (STYLE §3, §4): pure domain modules, services that do not import one another."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "app.py").exists())
IO_MODULES = {"sqlalchemy", "faststream", "aiokafka", "asyncpg", "structlog", "os", "httpx", "fastapi", "socket",
              "random", "uuid"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


DOMAIN = sorted([*(ROOT / "services").glob("*/domain.py"), *(ROOT / "services").glob("*/domain/*.py")])


@pytest.mark.parametrize("path", DOMAIN, ids=lambda p: str(p.relative_to(ROOT / "services")))
def test_domain_modules_do_no_io(path: Path) -> None:
    assert not {m.split(".")[0] for m in imports_of(path)} & IO_MODULES


def test_every_service_has_a_domain_or_only_plumbing() -> None:
    assert set(SERVICES) == {"requests", "confirmation", "appointments", "notifier"}


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_imports_another(service: str) -> None:
    others = {f"services.{s}" for s in SERVICES if s != service}
    for path in (ROOT / "services" / service).rglob("*.py"):
        assert not {m for m in imports_of(path) if any(m.startswith(o) for o in others)}, path


def test_shared_imports_no_service() -> None:
    for path in (ROOT / "shared").rglob("*.py"):
        assert not [m for m in imports_of(path) if m.startswith("services")], path
