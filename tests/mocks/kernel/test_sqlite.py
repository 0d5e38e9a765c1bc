"""mocks/kernel/sqlite.py: the one way the stores open SQLite, lock it and make several writes one."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from mocks.kernel.sqlite import AlreadySeen, Database


@pytest.fixture
def db() -> Database:
    database = Database()
    database.script("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL); CREATE TABLE u (k TEXT UNIQUE);")
    yield database
    database.close()


def _rows(db: Database) -> list[tuple]:
    return db.all("SELECT k, v FROM t ORDER BY k")


class Boom(Exception):
    pass


# ----------------------------------------------------------------------------- transactions


def test_a_transaction_commits_all_its_writes(db: Database):
    with db.transaction():
        db.execute("INSERT INTO t VALUES ('a', 1)")
        db.executemany("INSERT INTO t VALUES (?, ?)", [("b", 2)])
        assert db.in_transaction
    assert not db.in_transaction
    assert _rows(db) == [("a", 1), ("b", 2)]


def test_a_transaction_rolls_back_everything_on_an_error(db: Database):
    with pytest.raises(Boom):
        with db.transaction():
            db.execute("INSERT INTO t VALUES ('a', 1)")
            db.execute("INSERT INTO t VALUES ('b', 2)")
            raise Boom
    assert _rows(db) == []
    assert not db.in_transaction
    with db.transaction():  # and the database is usable again
        db.execute("INSERT INTO t VALUES ('c', 3)")
    assert _rows(db) == [("c", 3)]


def test_a_nested_transaction_joins_the_outer_one(db: Database):
    with pytest.raises(Boom):
        with db.transaction():
            with db.transaction():
                db.execute("INSERT INTO t VALUES ('inner', 1)")
            assert db.in_transaction  # the inner block's end did not commit or close anything
            raise Boom
    assert _rows(db) == []  # the outer failure took the inner block's writes with it


def test_a_failed_nested_transaction_undoes_only_its_own_writes(db: Database):
    with db.transaction():
        db.execute("INSERT INTO t VALUES ('outer', 1)")
        with pytest.raises(Boom):
            with db.transaction():
                db.execute("INSERT INTO t VALUES ('inner', 2)")
                raise Boom
        db.execute("INSERT INTO t VALUES ('after', 3)")
    assert _rows(db) == [("after", 3), ("outer", 1)]


def test_another_connection_sees_nothing_until_the_outer_commit(tmp_path):
    path = tmp_path / "x.sqlite"
    with Database(path) as writer, Database(path) as reader:
        writer.script("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
        with writer.transaction():
            with writer.transaction():
                writer.execute("INSERT INTO t VALUES ('a', 1)")
            assert reader.one("SELECT COUNT(*) FROM t") == (0,)
        assert reader.one("SELECT COUNT(*) FROM t") == (1,)


# ----------------------------------------------------------------------------- already seen


def test_a_primary_key_conflict_is_already_seen(db: Database):
    db.execute("INSERT INTO t VALUES ('a', 1)")
    with pytest.raises(AlreadySeen):
        db.execute("INSERT INTO t VALUES ('a', 2)")
    assert _rows(db) == [("a", 1)]


def test_a_unique_conflict_inside_transactions_is_already_seen_at_every_depth(db: Database):
    db.execute("INSERT INTO u VALUES ('x')")
    with pytest.raises(AlreadySeen):
        with db.transaction():
            db.executemany("INSERT INTO u VALUES (?)", [("y",), ("x",)])
    with db.transaction():
        db.execute("INSERT INTO t VALUES ('kept', 1)")
        with pytest.raises(AlreadySeen):
            with db.transaction():
                db.execute("INSERT INTO t VALUES ('gone', 2)")
                db.execute("INSERT INTO u VALUES ('x')")
    assert _rows(db) == [("kept", 1)]
    assert db.all("SELECT k FROM u") == [("x",)]  # the failed executemany's first row went with it


def test_other_integrity_errors_are_not_already_seen(db: Database):
    with pytest.raises(sqlite3.IntegrityError) as raised:
        db.execute("INSERT INTO t VALUES ('a', NULL)")  # NOT NULL: a bug, not a duplicate
    assert not isinstance(raised.value, AlreadySeen)
    with pytest.raises(sqlite3.IntegrityError) as raised:
        with db.transaction():
            db.execute("INSERT INTO t VALUES ('a', NULL)")
    assert not isinstance(raised.value, AlreadySeen)


# ----------------------------------------------------------------------------- threads


def test_concurrent_transactions_are_serialised(tmp_path):
    """Each thread reads a counter, waits, and writes it back plus one: without the lock held across the
    transaction, the threads would read the same value and updates would be lost."""
    db = Database(tmp_path / "c.sqlite")
    db.script("CREATE TABLE c (n INTEGER NOT NULL); INSERT INTO c VALUES (0);")
    inside = 0
    most_inside = 0
    guard = threading.Lock()

    def bump() -> None:
        nonlocal inside, most_inside
        for _ in range(5):
            with db.transaction():
                with guard:
                    inside += 1
                    most_inside = max(most_inside, inside)
                (n,) = db.one("SELECT n FROM c")
                time.sleep(0.001)
                db.execute("UPDATE c SET n=?", (n + 1,))
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db.one("SELECT n FROM c") == (20,)
    assert most_inside == 1
    db.close()


def test_the_lock_is_reentrant_and_a_condition_can_wait_on_it(db: Database):
    cond = threading.Condition(db.lock)
    woke = []

    def waiter() -> None:
        with cond:
            with db.transaction():  # re-entered while the condition's hold is on
                pass
            woke.append(cond.wait(timeout=5))

    thread = threading.Thread(target=waiter)
    thread.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with cond:
            cond.notify_all()
        if woke:
            break
        time.sleep(0.01)
    thread.join(timeout=5)
    assert woke == [True]


# ----------------------------------------------------------------------------- opening


def _pragma(db: Database, name: str):
    return db.one(f"PRAGMA {name}")[0]


def test_a_file_is_opened_in_wal_with_synchronous_normal_and_a_busy_timeout(tmp_path):
    with Database(tmp_path / "f.sqlite", timeout=7.5) as db:
        assert _pragma(db, "journal_mode") == "wal"
        assert _pragma(db, "synchronous") == 1  # NORMAL
        assert _pragma(db, "busy_timeout") == 7500
        assert _pragma(db, "query_only") == 0


def test_memory_keeps_sqlites_defaults(db: Database):
    assert _pragma(db, "journal_mode") == "memory"
    assert _pragma(db, "synchronous") == 2  # FULL, SQLite's default: nothing to make durable anyway


def test_read_only_opens_an_existing_file_and_refuses_writes(tmp_path):
    path = tmp_path / "r.sqlite"
    with Database(path) as writer:
        writer.script("CREATE TABLE t (k TEXT PRIMARY KEY)")
        writer.execute("INSERT INTO t VALUES ('a')")
        with Database(path, read_only=True) as reader:
            assert reader.read_only and _pragma(reader, "query_only") == 1
            assert reader.all("SELECT k FROM t") == [("a",)]
            assert reader.has_table("t") and not reader.has_table("nope")
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                reader.execute("INSERT INTO t VALUES ('b')")
    with pytest.raises(FileNotFoundError, match="missing.sqlite"):
        Database(tmp_path / "missing.sqlite", read_only=True)
    assert not (tmp_path / "missing.sqlite").exists()
    with pytest.raises(FileNotFoundError):
        Database(":memory:", read_only=True)


def test_a_schema_script_is_one_transaction_and_not_allowed_inside_one(db: Database):
    with pytest.raises(sqlite3.OperationalError):
        db.script("CREATE TABLE half (x); CREATE TABLE t (k);")  # t exists: the whole script rolls back
    assert not db.has_table("half")
    with db.transaction():
        with pytest.raises(RuntimeError, match="inside an open transaction"):
            db.script("CREATE TABLE y (x)")


def test_every_rollback_tells_the_hooks_and_a_commit_does_not(db: Database):
    told = []
    db.on_rollback(lambda: told.append(db.in_transaction))
    with db.transaction():
        db.execute("INSERT INTO t VALUES ('a', 1)")
    assert told == []
    with db.transaction():
        with pytest.raises(Boom):
            with db.transaction():
                raise Boom
        assert told == [True]  # a nested block's rollback: the outer transaction is still open
    with pytest.raises(Boom):
        with db.transaction():
            raise Boom
    assert told == [True, False]


def test_a_read_holds_the_lock_so_no_other_thread_writes_in_between(db: Database):
    wrote = threading.Event()

    def writer() -> None:
        db.execute("INSERT INTO t VALUES ('w', 1)")
        wrote.set()

    with db.read() as conn:
        thread = threading.Thread(target=writer)
        thread.start()
        assert not wrote.wait(timeout=0.2)  # blocked on the lock this read holds
        assert conn.execute("SELECT COUNT(*) FROM t").fetchone() == (0,)
    thread.join(timeout=5)
    assert wrote.is_set() and _rows(db) == [("w", 1)]
