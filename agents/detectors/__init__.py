"""Pattern analyses of the evidence layer (``agents/evidence``): each proves one kind of problem
from a :class:`~elixir_scope.agents.view.RecordingView` and returns typed
:class:`~elixir_scope.agents.findings.Finding` values (facts) whose evidence names recorded
events. ``agents.evidence.build_facts`` runs them with the general analyses and links their
facts to causes and effects.

| detector | proves | from |
| --- | --- | --- |
| ``call_cycle`` | GenServer call cycles and deadlocks | ``$gen_call`` sends outstanding at once, forming a cycle in the wait-for graph |
| ``slow_callback`` | slow callbacks and waiters' timeouts, named at the function where the time went | the run a waiter's ``{:timeout, {GenServer, :call, _}}`` / ``:gen_statem.call`` / ``{Task, :await, _}`` exit fell in, and the nested calls that cover its time |
| ``mailbox_growth`` | mailbox overload | sampled queue lengths growing, receive rate vs callback rate |
| ``exception_state`` | an exception, the state that caused it and the earlier transition that corrupted it | callback exceptions + state history |
| ``lost_update`` | read-modify-write races on ETS | interleaved ``:ets.lookup``/``:ets.insert`` of the same key by different processes |
| ``unheard_pubsub`` | messages published where nobody listens | ``Registry.dispatch`` topics vs registered keys |
| ``process_leak`` | process leaks | spawns without exits grouped by initial call, process count growth |
"""

