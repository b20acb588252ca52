"""The traced stack of an event: the calls still open in its process, innermost first — what
stands in for the stacktrace that ``exception_from`` trace messages do not carry."""

from elixir_scope.store import EventKind, TraceStore
from support.query_records import flush, new_recording


def _recording(tmp_path):
    store = TraceStore.open(tmp_path / "s.db")
    writer, node_id, b = new_recording(store)
    p = b.pid(1, "MyApp.Worker")
    run, step, helper, parse = (b.mfa("MyApp.Worker", "run", 1), b.mfa("MyApp.Worker", "step", 1),
                                b.mfa("MyApp.Worker", "helper", 0), b.mfa("MyApp.Parser", "parse", 1))
    b.call(p, run, [1])
    b.call(p, helper, [])          # a sibling that finished: not on the stack
    b.ret(p, helper, 1)
    b.call(p, step, [2])
    b.call(p, step, [1])           # recursion: both frames are open
    b.call(p, parse, [b"x"])
    b.exc(p, parse, "error", b"bad input")
    b.exc(p, step, "error", b"bad input")
    b.call(p, helper, [])
    b.ret(p, helper, 2)
    flush(writer, node_id, b)
    writer.finish("stopped", {})
    return store, store.recording(writer.id)


def test_exception_stack_is_innermost_first(tmp_path):
    store, rec = _recording(tmp_path)
    excs = rec.events(kind=EventKind.EXCEPTION)
    stack = rec.traced_stack(excs[0])
    assert [str(f.mfa) for f in stack.frames] == [
        "MyApp.Parser.parse/1", "MyApp.Worker.step/1", "MyApp.Worker.step/1", "MyApp.Worker.run/1"]
    assert stack.complete and stack.describe().startswith("MyApp.Parser.parse/1 <- ")
    # the exception propagating out of the inner step/1: parse/1 has ended, one step/1 is left
    assert [str(f.mfa) for f in rec.traced_stack(excs[1]).frames] == [
        "MyApp.Worker.step/1", "MyApp.Worker.step/1", "MyApp.Worker.run/1"]
    store.close()


def test_stack_at_a_return_and_across_pages(tmp_path):
    store, rec = _recording(tmp_path)
    last_ret = rec.events(kind=EventKind.RETURN)[-1]
    stack = rec.traced_stack(last_ret, page=2)  # tiny pages: the walk must continue across them
    assert [str(f.mfa) for f in stack.frames] == ["MyApp.Worker.helper/0", "MyApp.Worker.step/1", "MyApp.Worker.run/1"]
    store.close()
