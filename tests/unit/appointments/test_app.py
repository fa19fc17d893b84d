"""Demo branches from the data file: each plan carries its booking window (contract 1.1)."""

import json
from pathlib import Path

from services.appointments.app import load_branches
from services.appointments.settings import BUNDLED_BRANCHES

BRANCH = {"branch_id": "BR-1", "name": "n", "address": "a", "timezone": "Asia/Shanghai", "slot_minutes": 30,
          "daily_cap": 10, "weekly": {"MON": [{"start": "09:00", "end": "10:00", "capacity_per_slot": 1}]}}


def test_a_branch_in_the_data_file_keeps_its_own_booking_window(tmp_path: Path) -> None:
    path = tmp_path / "branches.json"
    path.write_text(json.dumps([{**BRANCH, "booking_window_days": 30}, {**BRANCH, "branch_id": "BR-2"}]))
    own, default = load_branches(path, booking_window_days=7)
    assert (own.booking_window_days, default.booking_window_days) == (30, 7)


def test_the_bundled_demo_branches_load() -> None:
    assert {p.booking_window_days for p in load_branches(BUNDLED_BRANCHES, booking_window_days=14)} == {14}
