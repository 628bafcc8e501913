"""Store against real databases: a SQLite file and, when reachable, PostgreSQL.

Each test runs on both. PostgreSQL tests get a schema of their own (via the
``search_path`` connection option), dropped afterwards, so they can run in any
order and leave nothing behind.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect

from mailbot.core.model import Address, Classification, Mail
from mailbot.errors import StoreError
from mailbot.shell import store as store_mod
from mailbot.shell.db import Base
from mailbot.shell.records import OutboxItem, StoredAttachment
from mailbot.shell.store import Store, alembic_config

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
NOW = datetime(2026, 3, 5, 8, 0, tzinfo=UTC)
HASH_A = "a" * 64
HASH_B = "b" * 64
TABLES = {"sync_state", "messages", "attachments", "outbox", "job_runs", "alembic_version"}

_pg_problem: list[str] = []


def _pg_unreachable() -> str | None:
    """Why PostgreSQL cannot be used, or None; asked once per session."""
    if not _pg_problem:
        try:
            psycopg.connect(PG_DSN).close()
            _pg_problem.append("")
        except psycopg.Error as exc:
            _pg_problem.append(f"PostgreSQL on 127.0.0.1:5432 unreachable: {exc}")
    return _pg_problem[0] or None


def _pg_schema_url() -> Iterator[str]:
    """A URL whose connections use a fresh, private schema; the schema is dropped after."""
    problem = _pg_unreachable()
    if problem:
        pytest.skip(problem)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store/mailbot.sqlite3"
    else:
        yield from _pg_schema_url()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """An upgraded, empty store."""
    s = Store.open(db_url)
    s.upgrade()
    yield s
    s.close()


def make_mail(sha256: str = HASH_A, message_id: str = "<m1@parent.example>") -> Mail:
    return Mail(
        sha256=sha256,
        message_id=message_id,
        sender=Address("Cô Lan", "lan@school.edu.vn"),
        subject="Bài viết tháng 3",
        date=datetime(2026, 3, 5, 14, 30, tzinfo=UTC),
        in_reply_to="<r0@school.edu.vn>",
        references=("<r-1@school.edu.vn>", "<r0@school.edu.vn>"),
    )


CLS = Classification(
    role="teacher",
    group="Tổ Toán",
    kind="submission",
    topics=("I", "III"),
    urgent=True,
    reasons=("role: roster", "topic: keyword"),
)
ATTS = [
    StoredAttachment("bai viet.docx", "application/msword", 1234, "attachments/1/bai viet.docx"),
    StoredAttachment("video.mp4", "video/mp4", 90_000_000, None, skipped="too large"),
]
ACK = OutboxItem("<ack-1@school.edu.vn>", "ack", ("lan@school.edu.vn",), b"Subject: ack\r\n\r\nok")


def claim(
    store: Store, uid: int = 1, sha256: str = HASH_A, mid: str = "<m1@parent.example>"
) -> int:
    return store.claim("INBOX", 7, uid, sha256=sha256, message_id=mid, now=NOW).record.id


def file(store: Store, record_id: int, outbox: list[OutboxItem] | None = None) -> None:
    store.file_message(
        record_id,
        mail=make_mail(),
        classification=CLS,
        folder="Bài viết/Tổ Toán",
        raw_path="raw/aa/" + HASH_A + ".eml",
        attachments=ATTS,
        outbox=[ACK] if outbox is None else outbox,
        now=NOW + timedelta(seconds=1),
    )


# -- schema ------------------------------------------------------------------


def test_upgrade_creates_tables_and_is_idempotent(db_url: str) -> None:
    """An empty database has no revision; upgrade makes the tables; a second upgrade is a no-op."""
    store = Store.open(db_url)
    try:
        assert store.current_revision() is None
        store.upgrade()
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert store.current_revision() == head == "0003"
        store.upgrade()
        assert store.current_revision() == head
        with store.connection() as conn:
            assert set(inspect(conn).get_table_names()) == TABLES
    finally:
        store.close()


def test_models_match_migration(store: Store) -> None:
    """Autogenerate finds no difference between the models and the migrated schema."""
    with store.connection() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


# -- the ledger ----------------------------------------------------------------


def test_claim_is_idempotent(store: Store) -> None:
    """Claiming the same (mailbox, UIDVALIDITY, UID) twice returns the same row, created once."""
    first = store.claim("INBOX", 7, 1, sha256=HASH_A, message_id="<m1@x>", now=NOW)
    again = store.claim("INBOX", 7, 1, sha256=HASH_A, message_id="<m1@x>", now=NOW)
    assert first.created and not again.created
    assert again.record == first.record
    assert first.record.state == "fetched" and first.record.attempts == 0
    assert first.record.created_at == NOW and first.record.created_at.tzinfo is not None
    assert claim(store, uid=2) != first.record.id


def test_concurrent_claims_by_two_stores_make_one_row(db_url: str) -> None:
    """Two processes claiming one key at the same moment end with one row (case 15)."""
    stores = [Store.open(db_url) for _ in range(2)]
    stores[0].upgrade()
    barrier = threading.Barrier(8)
    results: list[tuple[int, bool]] = []

    def race(store: Store) -> None:
        barrier.wait()
        c = store.claim("INBOX", 7, 42, sha256=HASH_A, message_id="<m@x>", now=NOW)
        results.append((c.record.id, c.created))

    threads = [threading.Thread(target=race, args=(stores[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert len({rid for rid, _ in results}) == 1
        assert sum(created for _, created in results) == 1
        assert stores[1].counts().by_state == {"fetched": 1}
    finally:
        for s in stores:
            s.close()


def test_long_message_id_is_cut_to_the_rfc_line_limit(store: Store) -> None:
    """A hostile 5,000-character Message-ID is stored cut, not refused (PostgreSQL index limit)."""
    record = store.claim("INBOX", 7, 1, sha256=HASH_A, message_id="<" + "x" * 5000, now=NOW)
    assert len(record.record.message_id) == 998


def test_file_message_writes_record_attachments_and_outbox(store: Store) -> None:
    """Filing fills the ledger row, adds the attachment rows and queues the ack."""
    rid = claim(store)
    file(store, rid)
    rec = store.record(rid)
    assert rec is not None
    assert (rec.state, rec.folder, rec.kind, rec.role, rec.group) == (
        "filed",
        "Bài viết/Tổ Toán",
        "submission",
        "teacher",
        "Tổ Toán",
    )
    assert (rec.topics, rec.urgent, rec.reasons) == (CLS.topics, True, CLS.reasons)
    assert (rec.sender_addr, rec.sender_name, rec.subject) == (
        "lan@school.edu.vn",
        "Cô Lan",
        "Bài viết tháng 3",
    )
    assert rec.references == ("<r-1@school.edu.vn>", "<r0@school.edu.vn>")
    assert rec.date == datetime(2026, 3, 5, 14, 30, tzinfo=UTC)
    assert rec.updated_at == NOW + timedelta(seconds=1) and rec.created_at == NOW
    assert store.attachments(rid) == ATTS
    [out] = store.pending_outbox(NOW, limit=10)
    assert (out.message_id, out.purpose, out.cause_id, out.recipients, out.raw) == (
        ACK.message_id,
        "ack",
        rid,
        ACK.recipients,
        ACK.raw,
    )


def test_file_message_twice_adds_nothing(store: Store) -> None:
    """Filing again (a retry after a crash) keeps one set of attachments and one outbox row."""
    rid = claim(store)
    file(store, rid)
    file(store, rid, outbox=[ACK, ACK])
    assert store.attachments(rid) == ATTS
    assert len(store.pending_outbox(NOW, limit=10)) == 1


def test_file_message_failure_writes_nothing(store: Store) -> None:
    """A failure late in the transaction (a bad outbox row) rolls back record and attachments."""
    rid = claim(store)
    broken = replace(ACK, raw=None)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="file_message failed"):
        file(store, rid, outbox=[broken])
    rec = store.record(rid)
    assert rec is not None and rec.state == "fetched" and rec.folder is None
    assert store.attachments(rid) == []
    assert store.pending_outbox(NOW, limit=10) == []


def test_file_message_unknown_record(store: Store) -> None:
    """Filing a record that does not exist is a StoreError naming the id."""
    with pytest.raises(StoreError, match="no message record 999"):
        file(store, 999)


def test_pending_moves_after_filing(store: Store) -> None:
    """Filed messages wait for their IMAP move; once moved they leave the list (case 7)."""
    first, second, _fetched = claim(store, 1), claim(store, 2), claim(store, 3)
    file(store, first)
    file(store, second, outbox=[])
    assert [r.id for r in store.pending_moves("INBOX")] == [first, second]
    assert store.pending_moves("Other") == []
    assert store.mark_moved([first], NOW) == 1
    assert store.mark_moved([first], NOW) == 0
    assert [r.id for r in store.pending_moves("INBOX")] == [second]
    assert store.counts().by_state == {"moved": 1, "filed": 1, "fetched": 1}


def test_failures_count_up(store: Store) -> None:
    """Each failure adds one attempt and keeps the step and error."""
    rid = claim(store)
    assert store.record_failure(rid, "parse", "boom", NOW) == 1
    assert store.record_failure(rid, "move", "NO [TRYCREATE]", NOW) == 2
    rec = store.record(rid)
    assert rec is not None and rec.attempts == 2 and rec.last_error == "move: NO [TRYCREATE]"
    with pytest.raises(StoreError, match="no message record 999"):
        store.record_failure(999, "parse", "x", NOW)


def test_quarantine_and_requeue(store: Store) -> None:
    """Quarantine keeps the reason; requeue sends it round again with attempts reset."""
    rid, other = claim(store, 1), claim(store, 2)
    store.record_failure(rid, "parse", "boom", NOW)
    store.quarantine(rid, "parse failed 3 times: boom", NOW)
    [q] = store.quarantined()
    assert (q.id, q.state, q.last_error) == (rid, "quarantined", "parse failed 3 times: boom")
    assert store.requeue(other, NOW) is False
    assert store.requeue(rid, NOW) is True
    rec = store.record(rid)
    assert rec is not None and (rec.state, rec.attempts) == ("fetched", 0)
    assert store.quarantined() == []


def test_find_processed_by_hash(store: Store) -> None:
    """The same content under a new UID is recognised once the first copy is filed (case 10)."""
    first = claim(store, 1)
    assert store.find_processed(HASH_A) is None
    file(store, first)
    again = claim(store, 99)
    found = store.find_processed(HASH_A)
    assert found is not None and found.id == first
    assert store.find_processed(HASH_B) is None
    store.mark_duplicate(again, first, NOW)
    rec = store.record(again)
    assert rec is not None and (rec.state, rec.duplicate_of) == ("duplicate", first)


def test_claim_many_inserts_the_new_and_reads_the_rest(store: Store) -> None:
    """A batch's claims: new rows made, rows already there (a restart) read back as they are."""
    old = claim(store, 2, HASH_B)
    file(store, old)
    claims = store.claim_many(
        "INBOX", 7, [(1, HASH_A, "<a@x>"), (2, HASH_B, "<b@x>"), (3, HASH_A, "<c@x>")], NOW
    )
    assert sorted(claims) == [1, 2, 3]
    assert [claims[uid].created for uid in (1, 2, 3)] == [True, False, True]
    assert claims[2].record.id == old and claims[2].record.state == "filed"
    assert (claims[3].record.uid, claims[3].record.message_id) == (3, "<c@x>")
    assert store.record(claims[1].record.id) == claims[1].record
    assert store.claim_many("INBOX", 7, [], NOW) == {}


def test_processed_gives_the_oldest_record_per_hash(store: Store) -> None:
    first, second, fresh = claim(store, 1), claim(store, 2), claim(store, 3, HASH_B)
    file(store, second)
    file(store, first)
    found = store.processed([HASH_A, HASH_B, HASH_A])
    assert {sha: r.id for sha, r in found.items()} == {HASH_A: first}
    assert fresh not in {r.id for r in found.values()}
    assert store.processed([]) == {}


def test_find_by_message_id_returns_every_copy(store: Store) -> None:
    """A reused Message-ID with another body is a second row, not a duplicate (case 11b)."""
    legit, forged = claim(store, 1, HASH_A, "<same@x>"), claim(store, 2, HASH_B, "<same@x>")
    found = store.find_by_message_id("<same@x>")
    assert [(r.id, r.sha256) for r in found] == [(legit, HASH_A), (forged, HASH_B)]
    assert store.find_by_message_id("<none@x>") == []


# -- outbox --------------------------------------------------------------------


def test_outbox_state_machine(store: Store) -> None:
    """pending → sending → pending (retry later) → sending → sent; a row is taken only once."""
    file(store, claim(store))
    [row] = store.pending_outbox(NOW, limit=10)
    assert store.mark_sending(row.id) is True
    assert store.mark_sending(row.id) is False
    assert [r.id for r in store.sending_outbox()] == [row.id]
    later = NOW + timedelta(minutes=5)
    store.mark_outbox_failed(row.id, "421 try later", NOW, retry_at=later)
    assert store.pending_outbox(NOW, limit=10) == []
    [due] = store.pending_outbox(later, limit=10)
    assert (due.attempts, due.last_error, due.next_attempt_at) == (1, "421 try later", later)
    assert store.mark_sending(row.id)
    store.mark_sent(row.id, later)
    assert store.pending_outbox(later, limit=10) == store.sending_outbox() == []
    assert store.counts().outbox_by_state == {"sent": 1}


def test_outbox_permanent_failure(store: Store) -> None:
    """Without retry_at a failed send stays failed and is never due again."""
    file(store, claim(store))
    [row] = store.pending_outbox(NOW, limit=10)
    store.mark_sending(row.id)
    store.mark_outbox_failed(row.id, "550 no such user", NOW, retry_at=None)
    assert store.pending_outbox(NOW + timedelta(days=9), limit=10) == []
    assert store.counts().outbox_by_state == {"failed": 1}


# -- job runs, sync state, status ---------------------------------------------


def test_job_runs_unique_per_period(store: Store) -> None:
    """A job runs once per period; a failed run may start again (case 24)."""
    assert store.start_job("monthly-report", "2026-02", NOW) is True
    assert store.start_job("monthly-report", "2026-02", NOW) is False
    store.finish_job("monthly-report", "2026-02", "done", NOW, "12 articles")
    assert store.start_job("monthly-report", "2026-02", NOW) is False
    assert store.start_job("monthly-report", "2026-03", NOW) is True
    store.finish_job("monthly-report", "2026-03", "failed", NOW, "SMTP down")
    assert store.start_job("monthly-report", "2026-03", NOW) is True
    assert store.start_job("digest", "2026-W10", NOW) is True
    runs = {(r.job, r.period, r.state) for r in store.last_runs()}
    assert runs == {("monthly-report", "2026-03", "running"), ("digest", "2026-W10", "running")}


def test_sync_state(store: Store) -> None:
    """The last UID never goes back within one UIDVALIDITY, and resets with a new one."""
    assert store.sync_state("INBOX") is None
    store.save_sync_state("INBOX", 7, 10, NOW)
    store.save_sync_state("INBOX", 7, 5, NOW + timedelta(minutes=1))
    state = store.sync_state("INBOX")
    assert state is not None and (state.uidvalidity, state.last_uid) == (7, 10)
    assert state.last_sync_at == NOW + timedelta(minutes=1) and state.first_sync_at == NOW
    store.save_sync_state("INBOX", 8, 3, NOW + timedelta(minutes=2))
    state = store.sync_state("INBOX")
    assert state is not None and (state.uidvalidity, state.last_uid) == (8, 3)
    assert store.counts().last_sync_at == NOW + timedelta(minutes=2)


def test_counts(store: Store) -> None:
    """Status totals per state, kind, folder and outbox state."""
    file(store, claim(store, 1))
    claim(store, 2)
    counts = store.counts()
    assert counts.by_state == {"filed": 1, "fetched": 1}
    assert counts.by_kind == {"submission": 1}
    assert counts.by_folder == {"Bài viết/Tổ Toán": 1}
    assert counts.outbox_by_state == {"pending": 1}
    assert counts.last_sync_at is None


def test_naive_datetime_is_refused(store: Store) -> None:
    """A naive datetime is ambiguous, so it is refused rather than guessed."""
    with pytest.raises(StoreError, match="naive datetime"):
        store.save_sync_state("INBOX", 7, 1, datetime(2026, 3, 5, 8, 0))


# -- errors ----------------------------------------------------------------------


def test_unreachable_database_is_a_store_error_without_the_password() -> None:
    """A stopped server is reported at open, naming the database but not its password."""
    with pytest.raises(StoreError) as caught:
        Store.open("postgresql+psycopg://mailbot:s3cret-pw@127.0.0.1:1/mailbot")
    message = str(caught.value)
    assert "s3cret-pw" not in message
    assert message.startswith("database postgresql+psycopg://mailbot:***@127.0.0.1:1/mailbot: ping")


def test_bad_url_is_not_echoed() -> None:
    """An unparsable URL may hold a password, so the message does not repeat it."""
    with pytest.raises(StoreError, match="not valid") as caught:
        Store.open("postgres ql://u:s3cret-pw@host/db")
    assert "s3cret-pw" not in str(caught.value)


def test_sqlite_needs_a_file() -> None:
    """An in-memory SQLite database would vanish with its connection, so it is refused."""
    with pytest.raises(StoreError, match="SQLite needs a file path"):
        Store.open("sqlite://")


def test_failed_savepoint_undoes_only_its_own_writes_in_a_batch(store: Store) -> None:
    """One message failing inside a batch's transaction leaves the others and the batch usable."""
    with store.together():
        first = claim(store, uid=1)
        file(store, first)
        with pytest.raises(StoreError), store.savepoint():
            second = claim(store, uid=2, sha256=HASH_B, mid="<m2@parent.example>")
            broken = replace(ACK, message_id="<ack-2@school.edu.vn>", raw=None)
            file(store, second, outbox=[broken])  # type: ignore[arg-type]
        third = claim(store, uid=3, sha256=HASH_B, mid="<m3@parent.example>")
    assert store.counts().by_state == {"filed": 1, "fetched": 1}
    assert store.record(first) is not None and store.record(third) is not None
    assert [m.uid for m in store.find_by_message_id("<m2@parent.example>")] == []


def test_next_ref_counts_past_three_digits(store: Store) -> None:
    """Numbers are padded to three digits; the 1000th sorts after the 999th."""
    for uid, ref in enumerate(("TB-2026-03-999", "TB-2026-03-1000", "TB-2026-03-002"), 1):
        rid = claim(store, uid=uid, sha256=f"{uid:064x}", mid=f"<r{uid}@x>")
        store.file_message(rid, mail=make_mail(), classification=CLS, folder="F",
                           raw_path="raw", attachments=[], outbox=[], now=NOW, ref=ref)  # fmt: skip
    assert store.next_ref("TB", 2026, 3) == "TB-2026-03-1001"
    assert store.next_ref("TB", 2026, 4) == "TB-2026-04-001"


def _ref_queries(store: Store) -> list[str]:
    """The statements that look up a last reference number, as ``store`` runs them."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "messages.ref" in statement and "ORDER BY" in statement:
            seen.append(statement)

    event.listen(store._engine, "before_cursor_execute", note)
    return seen


def _file_ref(store: Store, uid: int, ref: str) -> None:
    rid = claim(store, uid=uid, sha256=f"{uid:064x}", mid=f"<r{uid}@x>")
    store.file_message(rid, mail=make_mail(), classification=CLS, folder="F",
                       raw_path="raw", attachments=[], outbox=[], now=NOW, ref=ref)  # fmt: skip


def test_a_batch_asks_for_the_last_number_of_a_stem_once(store: Store) -> None:
    """Inside one transaction the numbers go on from memory: one query per stem, no gap,
    and a number taken but not written (a follow-up joins its thread) is given again."""
    _file_ref(store, 1, "TB-2026-03-007")
    queries = _ref_queries(store)
    with store.together():
        first = store.next_ref("TB", 2026, 3)
        _file_ref(store, 2, first)
        unused = store.next_ref("TB", 2026, 3)
        again = store.next_ref("TB", 2026, 3)
        _file_ref(store, 3, again)
        other = store.next_ref("PH", 2026, 3)
        last = store.next_ref("TB", 2026, 3)
    assert (first, unused, again, other, last) == (
        "TB-2026-03-008",
        "TB-2026-03-009",
        "TB-2026-03-009",
        "PH-2026-03-001",
        "TB-2026-03-010",
    )
    assert len(queries) == 2


def test_a_number_written_in_an_undone_savepoint_is_free_again(store: Store) -> None:
    """A message that fails after its filing gives its number back to the next one."""
    with store.together():
        _file_ref(store, 1, store.next_ref("TB", 2026, 3))
        with pytest.raises(RuntimeError), store.savepoint():
            _file_ref(store, 2, store.next_ref("TB", 2026, 3))
            raise RuntimeError("the message failed after its filing")
        taken = store.next_ref("TB", 2026, 3)
    assert taken == "TB-2026-03-002"


def test_requeue_clears_attachment_rows(store: Store) -> None:
    """A record sent round again has no attachment rows: filing it adds one set."""
    rid = claim(store)
    file(store, rid)
    store.quarantine(rid, "test", NOW)
    assert store.requeue(rid, NOW)
    assert store.attachments(rid) == []
    file(store, rid)
    assert store.attachments(rid) == ATTS


def test_two_batches_taking_numbers_of_two_stems_in_opposite_order(db_url: str) -> None:
    """Two processes' batch transactions, one taking TB then PH, the other PH then TB:
    no deadlock (one lock for all numbers, not one per stem), and no number twice."""
    stores = [Store.open(db_url) for _ in range(2)]
    stores[0].upgrade()
    first_has_tb = threading.Event()
    taken: list[str] = []
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with stores[0].together():
                taken.append(stores[0].next_ref("TB", 2026, 3))
                first_has_tb.set()
                time.sleep(0.5)
                taken.append(stores[0].next_ref("PH", 2026, 3))
        except BaseException as exc:
            errors.append(exc)
            first_has_tb.set()

    def second() -> None:
        first_has_tb.wait(10)
        try:
            with stores[1].together():
                taken.append(stores[1].next_ref("PH", 2026, 3))
                taken.append(stores[1].next_ref("TB", 2026, 3))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for s in stores:
        s.close()
    assert errors == []
    assert len(taken) == 4


def _locked_at_first(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """Make the first ``times`` SQLite connections fail as a file being created by another does."""
    calls: list[int] = []
    real = store_mod._sqlite_connect

    def connect(dbapi_conn: Any, record: Any) -> None:
        calls.append(1)
        if len(calls) <= times:
            raise sqlite3.OperationalError("database is locked")
        real(dbapi_conn, record)

    monkeypatch.setattr(store_mod, "_sqlite_connect", connect)
    monkeypatch.setattr(store_mod, "OPEN_RETRY_PAUSES", (0.01, 0.01))
    return calls


def test_open_waits_out_a_database_another_process_is_creating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two mailbox processes starting on one new SQLite file: the second one tries again."""
    calls = _locked_at_first(monkeypatch, times=2)
    store = Store.open(f"sqlite:///{tmp_path / 'shared.sqlite3'}")
    store.close()
    assert len(calls) == 3


def test_open_gives_up_on_a_database_that_stays_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _locked_at_first(monkeypatch, times=99)
    with pytest.raises(StoreError, match="database is locked"):
        Store.open(f"sqlite:///{tmp_path / 'shared.sqlite3'}")
