"""The former home of the "failures that raise nothing" analyses, kept as an import path only.

They now live one family per module — :mod:`.ignored` (ignored errors, no-effect messages),
:mod:`.rates` (hot callbacks, rate changes), :mod:`.statem` (dropped gen_statem events),
:mod:`.growth` (state growth) — and the helpers they share in :mod:`.common`, under public
names. This module holds no logic: it re-exports those names, and the private names older code
imported, so that code keeps working. Import from the modules above in new code.
"""

from __future__ import annotations

from .common import callback_states as _state_pairs
from .common import culprit_of as _culprit
from .common import is_error, is_success
from .common import is_generated as _generated
from .common import message_senders as _senders
from .common import message_shape as _shape
from .growth import state_growth
from .ignored import ignored_errors, no_effect_messages
from .rates import HOT_RATE, HOT_SHARE, hot_callbacks, rate_changes
from .statem import event_type as _event_type
from .statem import statem_events

__all__ = ["HOT_RATE", "HOT_SHARE", "hot_callbacks", "ignored_errors", "is_error", "is_success",
           "no_effect_messages", "rate_changes", "state_growth", "statem_events",
           "_culprit", "_event_type", "_generated", "_senders", "_shape", "_state_pairs"]
