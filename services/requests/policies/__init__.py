"""Policy presets shipped as data (SPEC §9): `standard-2019` (the old rules) and `epidemic-2020` (default)."""

import json
from pathlib import Path

from services.requests.domain import Policy

HERE = Path(__file__).parent


def presets() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.json"))


def load_policy(name: str) -> Policy:
    path = HERE / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(presets())}")
    return Policy(**json.loads(path.read_text(encoding="utf-8")))
