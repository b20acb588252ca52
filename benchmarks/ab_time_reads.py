"""A/B of the time readers at 1M events (ad hoc, not a benchmark of record): run it with main's
venv on a schema-6 store built by bench_query.build, then with this branch on a copy (migrated on
open, timed). Usage: python benchmarks/ab_time_reads.py STORE.db"""
import os, sys, time, statistics, shutil, json
path = sys.argv[1]
t0 = time.perf_counter()
from elixir_scope.store import TraceStore
from elixir_scope.store.density import event_density, time_bounds
from elixir_scope.store.stepping import step
from elixir_scope.store.query import run_query
store = TraceStore.open(path)
opened = time.perf_counter() - t0
rec = store.recording(1)
lo, hi = time_bounds(rec)
span = hi - lo
evs = rec.events(limit=1000)
ids = [e.id for e in rec.events(limit=20, after_id=evs[-1].id + 400_000)]
def timed(fn, n=5):
    xs = []
    for _ in range(n):
        t = time.perf_counter(); r = fn(); xs.append(time.perf_counter() - t)
    return xs, r
res = {}
def show(k, xs):
    res[k] = (min(xs) * 1e3, statistics.median(xs) * 1e3, max(xs) * 1e3)
    print(f"{k:<52} {res[k][0]:8.2f} {res[k][1]:8.2f} {res[k][2]:8.2f} ms", flush=True)
show("time_bounds", timed(lambda: time_bounds(rec), 20)[0])
show("density whole", timed(lambda: event_density(rec, buckets=592, max_lanes=40), 3)[0])
show("density a sixth", timed(lambda: event_density(rec, lo + span // 2, lo + span // 2 + span // 6, buckets=592, max_lanes=40), 3)[0])
show("density a 1/2000 window (exact)", timed(lambda: event_density(rec, lo + span // 3, lo + span // 3 + span // 2000, buckets=592, max_lanes=40), 5)[0])
es = [rec.event(i) for i in ids]
show("step next x20", timed(lambda: [step(rec, e, 1) for e in es], 5)[0])
show("step prev x20", timed(lambda: [step(rec, e, -1) for e in es], 5)[0])
mid = es[0].ts
show("events(since, until) page 1000", timed(lambda: rec.events(since=mid, until=mid + span // 100, limit=1000), 5)[0])
show("events(after_id) page 1000", timed(lambda: rec.events(after_id=ids[0], limit=1000), 5)[0])
for q in ("events", "calls", "events | sort time desc", "calls MyApp.Cart.add", "exceptions"):
    show(f"run_query {q!r} limit 50", timed(lambda: run_query(rec, q, limit=50), 5)[0])
r = run_query(rec, "calls", limit=50)
c = r.next_cursor
for _ in range(20):
    r2 = run_query(rec, "calls", limit=50, cursor=c); c = r2.next_cursor
show("run_query 'calls' page 22 (cursor)", timed(lambda: run_query(rec, "calls", limit=50, cursor=c), 5)[0])
print(json.dumps({"opened_s": opened, "load": os.getloadavg()[0], "ms": res}))
store.close()
