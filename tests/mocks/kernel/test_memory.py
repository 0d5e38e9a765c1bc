"""mocks/kernel/memory.py: tables in dicts with the transaction rules of mocks/kernel/sqlite.py."""

from __future__ import annotations

import threading

import pytest

from mocks.kernel.memory import MemoryDatabase, Sequence, Table, check_store_kind
from mocks.kernel.sqlite import AlreadySeen


class Boom(Exception):
    pass


@pytest.fixture
def db() -> MemoryDatabase:
    return MemoryDatabase()


@pytest.fixture
def table(db) -> Table:
    return Table(db, "t", indexes={"owner": lambda row: row[0]})


def test_a_write_outside_a_transaction_is_final_and_keeps_no_undo(db, table):
    table.put("a", ("x", 1))
    assert table.get("a") == ("x", 1)
    assert db._undo == []


def test_a_transaction_keeps_all_its_writes(db, table):
    with db.transaction():
        table.insert("a", ("x", 1))
        table.put("b", ("y", 2))
        assert db.in_transaction
    assert not db.in_transaction
    assert table.items() == [("a", ("x", 1)), ("b", ("y", 2))]
    assert db._undo == []


def test_a_failed_transaction_undoes_inserts_replacements_deletes_and_indexes(db, table):
    table.put("a", ("x", 1))
    table.put("b", ("x", 2))
    table.put("c", ("y", 3))
    with pytest.raises(Boom):
        with db.transaction():
            table.put("a", ("y", 10))       # moves a from index x to y
            table.delete("b")
            table.insert("d", ("x", 4))
            raise Boom
    assert table.items() == [("a", ("x", 1)), ("c", ("y", 3)), ("b", ("x", 2))], "a deleted row comes back last"
    assert table.get("a") == ("x", 1), "a replaced row goes back"
    assert "d" not in table
    assert sorted(table.where("owner", "x")) == [("x", 1), ("x", 2)]
    assert table.where("owner", "y") == [("y", 3)]


def test_a_replaced_row_keeps_its_place_after_a_rollback(db, table):
    for key in "abc":
        table.put(key, (key, 0))
    with pytest.raises(Boom):
        with db.transaction():
            table.put("b", ("b", 99))
            raise Boom
    assert [k for k, _ in table.items()] == ["a", "b", "c"]


def test_a_failed_inner_transaction_undoes_only_its_own_writes(db, table):
    with db.transaction():
        table.insert("outer", ("x", 1))
        with pytest.raises(Boom):
            with db.transaction():
                table.insert("inner", ("x", 2))
                raise Boom
        assert "inner" not in table
        table.insert("after", ("x", 3))
    assert [k for k, _ in table.items()] == ["outer", "after"]


def test_an_outer_failure_undoes_what_a_finished_inner_transaction_wrote(db, table):
    with pytest.raises(Boom):
        with db.transaction():
            with db.transaction():
                table.insert("inner", ("x", 1))
            raise Boom
    assert len(table) == 0
    assert table.where("owner", "x") == []


def test_rollback_hooks_run_on_every_rollback_and_not_on_commit(db, table):
    calls = []
    db.on_rollback(lambda: calls.append("forgot"))
    with db.transaction():
        table.put("a", ("x", 1))
    assert calls == []
    with pytest.raises(Boom):
        with db.transaction():
            raise Boom
    assert calls == ["forgot"]


def test_insert_of_a_taken_key_is_already_seen_and_insert_or_ignore_keeps_the_first(table):
    table.insert("a", ("x", 1))
    with pytest.raises(AlreadySeen, match="t: 'a' is already stored"):
        table.insert("a", ("x", 2))
    assert table.insert_or_ignore("a", ("x", 3)) is False
    assert table.get("a") == ("x", 1)
    assert table.insert_or_ignore("b", ("x", 3)) is True


def test_an_index_lists_rows_in_insertion_order_and_forgets_empty_values(table):
    table.put("2", ("x", 2))
    table.put("1", ("x", 1))
    assert table.where("owner", "x") == [("x", 2), ("x", 1)]
    table.delete("2")
    table.delete("1")
    assert table.where("owner", "x") == []
    assert table._indexes["owner"] == {}
    assert table.delete("nothing") is None


def test_a_sequence_gives_back_the_numbers_of_a_rolled_back_transaction(db):
    seq = Sequence(db)
    assert seq.next() == 1
    with pytest.raises(Boom):
        with db.transaction():
            assert seq.next() == 2
            raise Boom
    assert seq.next() == 2


def test_the_lock_keeps_another_thread_out_of_an_open_transaction(db, table):
    entered = threading.Event()
    release = threading.Event()
    seen = []

    def writer():
        with db.transaction():
            table.put("a", ("x", 1))
            entered.set()
            release.wait(5)

    def reader():
        entered.wait(5)
        with db.transaction():
            seen.append(table.get("a"))

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    entered.wait(5)
    assert seen == []  # the reader waits for the writer's transaction
    release.set()
    for t in threads:
        t.join(5)
    assert seen == [("x", 1)]


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_store_kinds_are_checked(kind):
    assert check_store_kind(kind) == kind


def test_an_unknown_store_kind_names_the_field_and_the_choices():
    with pytest.raises(ValueError, match=r"stores: 'postgres' is not one of sqlite, memory"):
        check_store_kind("postgres")
