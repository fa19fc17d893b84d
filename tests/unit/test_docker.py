"""The Docker image and compose file users run (not built here, no Docker engine) keep the native scripts' security:
the services run as an unprivileged user, and the demo clock only under the demo flag."""

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _instructions() -> list[tuple[str, str]]:
    lines = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
    return [(line.split()[0].upper(), line.split(maxsplit=1)[1]) for line in lines
            if line.strip() and not line.lstrip().startswith("#")]


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"])


def test_the_image_runs_as_a_non_root_user_it_creates() -> None:
    instructions = _instructions()
    users = [arg for op, arg in instructions if op == "USER"]
    assert users, "the image must name a USER"
    uid = users[-1].split(":")[0]
    assert uid not in ("0", "root"), users[-1]
    created = [arg for op, arg in instructions if op == "RUN" and "useradd" in arg]
    assert any(f"--uid {uid}" in arg for arg in created), "the USER is created in the image"
    last_run = max(i for i, (op, _) in enumerate(instructions) if op == "RUN")
    assert instructions.index(("USER", users[-1])) > last_run, "nothing runs as root after the switch"


def test_no_compose_service_built_from_the_image_runs_as_root() -> None:
    built = {name: spec for name, spec in _compose().items() if spec.get("build")}
    assert built
    for name, spec in built.items():
        assert str(spec.get("user", "10001")).split(":")[0] not in ("0", "root"), name


def test_compose_moves_the_clock_only_with_the_demo_flag() -> None:
    for name, spec in _compose().items():
        env = spec.get("environment") or {}
        if any(k.endswith(("CLOCK_START", "CLOCK_FIXED")) for k in env):
            assert str(env.get("POSTLOAN_DEMO_MODE")).lower() == "true", name
