"""SQLite writer queue (issue 18, cloud/db.py): in one process (`serve --with-worker`) writers
get the write lock in the order they asked, so a burst of ingest writes cannot starve a worker
pass, nor a long run of passes the ingest. Counted in grants and passes, never in seconds."""

from __future__ import annotations

import random
import threading
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from cloud.db import FairLock, make_engine, make_sessionmaker, transaction, writer_queue


def _wait_until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    done = threading.Event()
    for _ in range(20_000):  # polls, not a clock: at most ~20 s of 1 ms waits
        if condition():
            return
        done.wait(0.001)
    raise AssertionError(f"never happened: {what}")


def test_the_lock_is_granted_in_the_order_asked() -> None:
    lock = FairLock()
    assert lock.acquire(1)
    order: list[int] = []
    threads = []
    for n in range(6):
        t = threading.Thread(target=lambda n=n: (lock.acquire(30), order.append(n), lock.release()))
        t.start()
        threads.append(t)
        _wait_until(lambda n=n: len(lock._waiters) == n + 1, f"waiter {n} queued")
    lock.release()
    for t in threads:
        t.join()
    assert order == list(range(6))
    assert lock.most_overtaken == 5  # the last one waited for the five before it


def test_a_waiter_that_gives_up_leaves_the_queue() -> None:
    lock = FairLock()
    assert lock.acquire(1)
    assert not lock.acquire(0.01)  # timed out
    assert not lock._waiters
    lock.release()
    assert lock.acquire(0.01)  # free again: the quitter did not keep a place


@given(
    st.integers(2, 8),
    st.lists(st.integers(0, 3), min_size=1, max_size=30),
    st.randoms(use_true_random=False),
)
@settings(max_examples=25, deadline=None)
def test_mutual_exclusion_and_bounded_overtaking(
    threads: int, work: list[int], rng: random.Random
) -> None:
    lock = FairLock()
    inside = [0]
    worst = [0]

    def run(seed: int) -> None:
        local = random.Random(seed)
        for steps in work:
            assert lock.acquire(30)
            inside[0] += 1
            worst[0] = max(worst[0], inside[0])
            for _ in range(steps + local.randint(0, 2)):
                threading.Event().wait(0)  # yield the GIL inside the critical section
            inside[0] -= 1
            lock.release()

    pool = [threading.Thread(target=run, args=(rng.random(),)) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert worst[0] == 1
    assert lock.grants == threads * len(work)
    # Each thread asks for one turn at a time: nobody is overtaken by more than the others.
    assert lock.most_overtaken <= threads - 1


def test_an_ingest_burst_does_not_starve_worker_passes(tmp_path: Path) -> None:
    """Eight request threads write as fast as they can while the embedded worker runs
    passes on the same database file: both make progress, every transaction got its turn
    after at most the nine others, and nothing failed with 'database is locked'."""
    db = tmp_path / "queue.db"
    engine = make_engine(f"sqlite:///{db}")
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        session.execute(text("CREATE TABLE events (n INTEGER, body TEXT)"))
        session.execute(text("CREATE TABLE passes (n INTEGER)"))
    queue = writer_queue(str(db))
    writers, writes_each = 8, 60
    burst_over = threading.Event()
    passes_during_burst = [0]
    errors: list[BaseException] = []

    def ingest(k: int) -> None:
        try:
            for n in range(writes_each):
                with transaction(sessions) as session:
                    session.execute(
                        text("INSERT INTO events VALUES (:n, :b)"),
                        {"n": k * 1000 + n, "b": "x" * 500},
                    )
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    def worker() -> None:
        try:
            while not burst_over.is_set():
                with transaction(sessions) as session:  # a pass: read the due rows, write one
                    due = session.execute(text("SELECT count(*) FROM events")).scalar_one()
                    session.execute(text("INSERT INTO passes VALUES (:n)"), {"n": due})
                passes_during_burst[0] += 1
        except BaseException as exc:
            errors.append(exc)

    pass_thread = threading.Thread(target=worker)
    pass_thread.start()
    burst = [threading.Thread(target=ingest, args=(k,)) for k in range(writers)]
    for t in burst:
        t.start()
    for t in burst:
        t.join()
    burst_over.set()
    pass_thread.join()
    engine.dispose()
    assert errors == []
    total = writers * writes_each
    with transaction(make_sessionmaker(make_engine(f"sqlite:///{db}"))) as session:
        assert session.execute(text("SELECT count(*) FROM events")).scalar_one() == total
        counts = session.execute(text("SELECT n FROM passes ORDER BY rowid")).scalars().all()
    assert queue.most_overtaken <= writers  # nine threads: at most the eight others first
    # The worker kept passing through the burst: passes saw the event count grow in many
    # steps, not one pass before and one after it.
    assert passes_during_burst[0] >= total // (4 * (writers + 1))
    seen_during = {c for c in counts if 0 < c < total}
    assert len(seen_during) >= total // (4 * (writers + 1))
