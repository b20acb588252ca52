"""JSON fields carry values, not Python reprs: a capture plan as stored with its recording."""

from __future__ import annotations

import json

from elixir_scope.instrument.capture import CapturePlan, Registered, RunningModule


def test_capture_plan_describes_itself_in_plain_json():
    plan = CapturePlan.from_strings(["Elixir.Shop.Cart.add/3"], message_procs=(
        Registered("Elixir.Shop.Cart"), RunningModule("Elixir.Shop.Inventory")), lifecycle_procs="all")
    doc = json.loads(json.dumps(plan.describe()))
    assert doc["message_procs"] == ["registered Elixir.Shop.Cart", "running Elixir.Shop.Inventory"]
    assert doc["lifecycle_procs"] == "all" and doc["call_procs"] == "all"
    assert "RunningModule(" not in json.dumps(doc) and "Registered(" not in json.dumps(doc)
