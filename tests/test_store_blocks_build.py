"""The block rows a batch gets (store/blocks.py ``batch_blocks``) against a plain reference
written from the definition: per stretch of ``SPAN`` ids, one block per key holding at least
one event per ``GAP`` rows of its span, else one block per run of its events with no gap above
``GAP``. Few and many keys, dense, sparse and single-event keys, lists and numpy arrays."""

from __future__ import annotations

import random

import pytest

import numpy as np

from elixir_scope.store.blocks import GAP, SPAN, batch_blocks


def reference(kinds, pids, auxs, first, rid, node):
    procs, kind_rows = [], []
    for start in range(0, len(kinds), SPAN):
        stop = min(start + SPAN, len(kinds))
        for keys, emit in (([pids[i] for i in range(start, stop)],
                            lambda key, lo, hi, n: procs.append((node, key, lo, hi, n))),
                           ([(kinds[i], auxs[i]) for i in range(start, stop)],
                            lambda key, lo, hi, n: kind_rows.append((rid, key[0], key[1], lo, hi, n)))):
            at: dict = {}
            for i, key in enumerate(keys):
                at.setdefault(key, []).append(first + start + i)
            for key, pos in at.items():
                if pos[-1] - pos[0] < GAP * len(pos):
                    emit(key, pos[0], pos[-1], len(pos))
                    continue
                run = [pos[0]]
                for p in pos[1:]:
                    if p - run[-1] > GAP:
                        emit(key, run[0], run[-1], len(run))
                        run = []
                    run.append(p)
                emit(key, run[0], run[-1], len(run))
    return sorted(procs), sorted(kind_rows)


def batch(rng: random.Random, size: int, n_pids: int, sparse: int):
    """``size`` records over ``n_pids`` common processes, plus ``sparse`` rare ones each seen a
    few times far apart; kinds call/return/send with function or peer numbers in ``aux``."""
    pids = [rng.randrange(n_pids) for _ in range(size)]
    for s in range(sparse):
        for _ in range(rng.randint(1, 4)):
            pids[rng.randrange(size)] = 1000 + s
    kinds = [rng.choice((1, 2, 2, 4)) for _ in range(size)]
    auxs = [rng.randrange(3) if k != 4 else rng.randrange(200) for k in kinds]
    return kinds, pids, auxs


@pytest.mark.parametrize("size,n_pids,sparse", [
    (1, 1, 0), (37, 1, 0), (3000, 1, 0), (3000, 8, 3), (9000, 2, 5),          # few keys
    (3000, 17, 0), (9000, 200, 20), (SPAN * 3 + 17, 40, 10),                 # many keys
])
def test_batch_blocks_match_the_definition(size, n_pids, sparse):
    rng = random.Random(size * 31 + n_pids * 7 + sparse)
    for _ in range(3):
        kinds, pids, auxs = batch(rng, size, n_pids, sparse)
        first = rng.randrange(1, 10**9)
        procs, kind_rows = batch_blocks(kinds, pids, auxs, first, 5, 9)
        assert (sorted(procs), sorted(kind_rows)) == reference(kinds, pids, auxs, first, 5, 9)
        as_read = batch_blocks(np.array(kinds, np.uint8), np.array(pids, np.uint32),  # as walk gives them
                               np.array(auxs, np.uint32), first, 5, 9)
        assert (sorted(as_read[0]), sorted(as_read[1])) == (sorted(procs), sorted(kind_rows))
        assert sum(r[4] for r in procs) == size and sum(r[5] for r in kind_rows) == size
        assert all(r[3] - r[2] < SPAN for r in procs)


def test_a_key_at_both_ends_of_a_batch_gets_its_exact_ends():
    """The scan from the back must find a key's last position, not its first from the front."""
    pids = [7] + [1] * 500 + [7] * 300 + [1] * 10 + [7]
    kinds, auxs = [1] * len(pids), [0] * len(pids)
    procs, _ = batch_blocks(kinds, pids, auxs, 100, 1, 1)
    assert sorted(procs) == reference(kinds, pids, auxs, 100, 1, 1)[0]
    assert (1, 7, 100, 100 + len(pids) - 1, 302) in procs  # dense enough for one block
    pids = [7] + [1] * 5000 + [7]  # too sparse: one block per end
    kinds, auxs = [1] * len(pids), [0] * len(pids)
    procs, _ = batch_blocks(kinds, pids, auxs, 100, 1, 1)
    assert sorted(procs) == reference(kinds, pids, auxs, 100, 1, 1)[0]
    assert (1, 7, 100, 100, 1) in procs and (1, 7, 100 + SPAN, 100 + SPAN, 1) not in procs
