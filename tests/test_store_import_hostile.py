"""Importing untrusted recording files: a VIEW over a recursive CTE, a bit-flipped file, a
trigger, an unexpected table, oversized files and tables. Each is refused before any row is
read, with an ``ArchiveError`` that names the bad file (never the user's store), and the
target store is left exactly as it was."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from elixir_scope.store import ArchiveError, TraceStore
from elixir_scope.store.import_check import ImportLimits

from test_store_archive import record


@pytest.fixture
def export(tmp_path):
    src = TraceStore.open(tmp_path / "src.db")
    rid, _ = record(src, "shared", 40)
    out = src.export_recording(rid, tmp_path / "good.esrec")
    src.close()
    return out


@pytest.fixture
def target(tmp_path):
    dst = TraceStore.open(tmp_path / "mine.db")
    record(dst, "local", 3)
    yield dst
    dst.close()


def _tamper(good, path, *sql):
    shutil.copyfile(good, path)
    conn = sqlite3.connect(path)
    for s in sql:
        conn.execute(s)
    conn.commit()
    conn.close()
    return path


def _unchanged(target):
    assert [r.name for r in target.recordings()] == ["local"]
    assert target.db.query_one("PRAGMA integrity_check")[0] == "ok"


def test_a_good_file_still_imports(export, target):
    rid = target.import_recording(export)
    assert target.recording(rid).info.name == "shared"
    assert len(target.recording(rid).events(limit=10_000)) > 40


def test_view_over_a_recursive_cte_is_refused_before_reading(export, target, tmp_path):
    bad = _tamper(export, tmp_path / "view.esrec", "DROP TABLE events",
                  "CREATE VIEW events AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                  "SELECT x AS id, 1 AS recording_id, 1 AS node_id, 1 AS kind, 0 AS flags, x AS ts, 0 AS uniq, "
                  "0 AS pid, 0 AS aux, zeroblob(1000000) AS payload FROM c")
    with pytest.raises(ArchiveError, match="view 'events'") as info:
        target.import_recording(bad)
    assert str(bad) in str(info.value) and "mine.db" not in str(info.value)
    _unchanged(target)


def test_a_trigger_is_refused(export, target, tmp_path):
    bad = _tamper(export, tmp_path / "trigger.esrec",
                  "CREATE TRIGGER boom AFTER INSERT ON clocks BEGIN SELECT 1; END")
    with pytest.raises(ArchiveError, match="trigger 'boom'") as info:
        target.import_recording(bad)
    assert str(bad) in str(info.value)
    _unchanged(target)


def test_an_older_file_with_a_trigger_is_refused_before_migrating(export, target, tmp_path):
    bad = _tamper(export, tmp_path / "old.esrec", "UPDATE meta SET value = '1' WHERE key = 'schema_version'",
                  "CREATE TRIGGER on_migrate AFTER DELETE ON clocks BEGIN SELECT 1; END")
    with pytest.raises(ArchiveError, match="trigger 'on_migrate'"):
        target.import_recording(bad)
    _unchanged(target)
    # the user's file was not migrated in place
    conn = sqlite3.connect(bad)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "1"
    conn.close()


def test_unexpected_tables_and_altered_tables_are_refused(export, target, tmp_path):
    extra = _tamper(export, tmp_path / "extra.esrec", "CREATE TABLE surprise (x)")
    with pytest.raises(ArchiveError, match="unexpected table 'surprise'"):
        target.import_recording(extra)
    altered = _tamper(export, tmp_path / "altered.esrec", "ALTER TABLE gaps ADD COLUMN note TEXT")
    with pytest.raises(ArchiveError, match="table 'gaps' differs"):
        target.import_recording(altered)
    _unchanged(target)


def test_a_bit_flipped_file_fails_its_integrity_check_and_names_the_file(export, target, tmp_path):
    conn = sqlite3.connect(export)
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events'").fetchone()
    (page,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    bad = tmp_path / "flipped.esrec"
    data = bytearray(export.read_bytes())
    for off in range(root * page - page + 8, root * page - page + 40):  # the b-tree page's cell pointers
        data[off] ^= 0x5A
    bad.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="damaged|not a readable") as info:
        target.import_recording(bad)
    msg = str(info.value)
    assert str(bad) in msg and "mine.db" not in msg
    _unchanged(target)


def test_size_and_row_limits(export, target):
    with pytest.raises(ArchiveError, match="max_bytes"):
        target.import_recording(export, ImportLimits(max_bytes=1000))
    with pytest.raises(ArchiveError, match="max_rows"):
        target.import_recording(export, ImportLimits(max_rows=10))
    _unchanged(target)


def test_the_import_file_is_opened_read_only(export, target, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    f = ro / "x.esrec"
    shutil.copyfile(export, f)
    f.chmod(0o444)
    ro.chmod(0o555)
    try:
        rid = target.import_recording(f)
        assert target.recording(rid).info.name == "shared"
        assert sorted(p.name for p in ro.iterdir()) == ["x.esrec"]  # no journal, no -wal made
    finally:
        ro.chmod(0o755)
