"""What tells a caller's answer to a failed call from its answer to a succeeding one
(agents/evidence/handled.py): every atom at the top kept, other values reduced to their kind —
table-driven, on decoded terms as the store gives them."""

from __future__ import annotations

import pytest

from elixir_scope.agents.evidence.handled import shape
from elixir_scope.instrument.etf import Atom as A

STATE = {A("__struct__"): A("Elixir.Dock"), A("bikes"): [101, 102]}


@pytest.mark.parametrize("failed, succeeded, alike", [
    # the error replaced by a success value: indistinguishable
    ((A("reply"), (A("ok"), 0), STATE), (A("reply"), (A("ok"), 12), STATE), True),
    (A("ok"), A("ok"), True),
    (3, 7, True),
    ((A("noreply"), STATE), (A("noreply"), {A("__struct__"): A("Elixir.Dock"), A("bikes"): []}), True),
    ([], [b"ann"], True),
    # acted on: another verdict, another tag, another kind of value
    ((A("reply"), A("deny"), STATE), (A("reply"), A("allow"), STATE), False),
    ((A("reply"), A("denied"), STATE), (A("reply"), (A("unlocked"), 101), STATE), False),
    ((A("retry"), 2), A("done"), False),
    (None, {A("id"): 7}, False),
    (False, True, False),
    ({A("__struct__"): A("Elixir.Refund")}, {A("__struct__"): A("Elixir.Receipt")}, False),
])
def test_shape_tells_answers_apart(failed, succeeded, alike):
    assert (shape(failed) == shape(succeeded)) is alike
