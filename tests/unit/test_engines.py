"""Every SQLAlchemy engine the project creates hides bound parameters, so no error message or log line carries the
values of a statement (phones, names, e-mails). shared.db.create_engine is checked where it calls SQLAlchemy."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for folder in ("shared", "services", "cli", "harness", "bench", "tests")
                 for p in (ROOT / folder).rglob("*.py"))


def engine_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == "create_async_engine"]


def hides_parameters(call: ast.Call) -> bool:
    return any(k.arg == "hide_parameters" and isinstance(k.value, ast.Constant) and k.value.value is True
               for k in call.keywords)


def test_every_sqlalchemy_engine_hides_its_parameters() -> None:
    calls = [(path, call) for path in SOURCES for call in engine_calls(path)]
    assert len(calls) >= 2, "shared/db.py and shared/migrations.py create engines"
    assert [f"{p.relative_to(ROOT)}:{c.lineno}" for p, c in calls if not hides_parameters(c)] == []
