"""The answer cache shared by queued experiments (``dvc queue start -j N``).

Several processes write the same folder at once; every entry must read back
whole and valid afterwards.
"""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from nbjudge.llm.cache import AnswerCache, content_key

WRITERS = 2
ENTRIES = 150          # different entries per writer
SHARED_WRITES = 150    # writes of the one entry both writers hold


def answer(key: str, writer: int, size: int) -> dict:
    # Big answers (a written notebook) go to files of their own in diskcache.
    return {"status": "ok", "writer": writer, "key": key,
            "value": (f"{key}:{writer}:" * (size // 20 + 1))[:size], "tokens_in": size}


def size_of(k: int) -> int:
    return 50_000 if k % 10 == 0 else 200 + k


def shared_key() -> str:
    return content_key({"shared": True})


def own_key(writer: int, k: int) -> str:
    return content_key({"writer": writer, "k": k})


def write(directory: str, writer: int, barrier) -> None:
    with AnswerCache(directory) as cache:
        barrier.wait()   # both processes write at the same moment
        for k in range(max(ENTRIES, SHARED_WRITES)):
            if k < SHARED_WRITES:
                cache.put(shared_key(), answer(shared_key(), writer, size_of(k % 3 * 10)))
            if k < ENTRIES:
                cache.put(own_key(writer, k), answer(own_key(writer, k), writer, size_of(k)))


@pytest.mark.slow
def test_two_processes_writing_one_cache_leave_every_entry_valid(tmp_path):
    directory = str(tmp_path / "answers")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WRITERS)
    processes = [context.Process(target=write, args=(directory, w, barrier))
                 for w in range(WRITERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=240)
    assert [p.exitcode for p in processes] == [0] * WRITERS

    with AnswerCache(directory) as cache:
        assert len(cache) == WRITERS * ENTRIES + 1
        for writer in range(WRITERS):
            for k in range(ENTRIES):
                key = own_key(writer, k)
                assert cache.get(key) == answer(key, writer, size_of(k)), (writer, k)
        shared = cache.get(shared_key())
        # The last write wins, whole: one writer's answer, never a mix of two.
        assert shared is not None
        assert shared in [answer(shared_key(), w, size_of(i * 10))
                          for w in range(WRITERS) for i in range(3)]
        assert cache._store.check() == []     # no orphan or partial value file

    # The store's own consistency check.
    with sqlite3.connect(tmp_path / "answers" / "cache.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
