"""Guards of the layout (STYLE §3, §4): pure domain modules, services that do not import one another."""

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml

from services import SERVICES as REGISTRY

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


def test_the_one_list_of_services_names_every_service_folder() -> None:
    assert set(SERVICES) == set(REGISTRY), "services/__init__.py SERVICES is the one list of services"


def test_docker_compose_runs_exactly_the_listed_services_on_their_ports() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    runs = {name: spec for name, spec in compose.items() if "services." in " ".join(spec.get("command", []))}
    assert set(runs) == set(REGISTRY)
    for name, port in REGISTRY.items():
        assert spec_port(runs[name]) == port, name


def spec_port(spec: dict[str, Any]) -> int:
    return int(next(p for p in spec.get("ports", [])).split(":")[0])


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_imports_another(service: str) -> None:
    others = {f"services.{s}" for s in SERVICES if s != service}
    for path in (ROOT / "services" / service).rglob("*.py"):
        assert not {m for m in imports_of(path) if any(m.startswith(o) for o in others)}, path


def test_shared_imports_no_service() -> None:
    for path in (ROOT / "shared").rglob("*.py"):
        assert not [m for m in imports_of(path) if m.startswith("services")], path


@pytest.mark.parametrize("folder", ["bench", "harness", "services", "shared", "cli"])
def test_only_the_tests_import_the_tests(folder: str) -> None:
    """bench/ and the tests share harness/; nothing but tests/ imports tests/, and no service imports harness/."""
    for path in (ROOT / folder).rglob("*.py"):
        imported = {m.split(".")[0] for m in imports_of(path)}
        assert "tests" not in imported, path
        if folder in ("services", "shared", "cli"):
            assert "harness" not in imported and "bench" not in imported, path


@pytest.mark.parametrize("path", sorted((ROOT / "services").glob("*/migrations/versions/*.py")),
                         ids=lambda p: str(p.relative_to(ROOT / "services")))
def test_migrations_use_no_live_table_definitions(path: Path) -> None:
    """A migration is frozen as of its revision: it may use the frozen shared steps, never today's tables."""
    for module in imports_of(path):
        assert not module.startswith("services."), f"{path} imports {module}"
        assert not module.startswith("shared.") or module == "shared.migration_steps", f"{path} imports {module}"
