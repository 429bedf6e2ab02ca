"""The outbox sender: claim a few due mails, send each over SMTP, record each outcome.

Claim order (mail_outbox.priority, the one rule in models.incidents.mail_priority): alerts of a
call for help, then of an unwell resident, then the other alerts (missed check-ins), then other
mail of an incident (follow-ups), then the rest (daily reports), each oldest-due first, so a
help call queued behind 2,000 missed check-ins at 09:10 still goes out first.

Mails are claimed a few at a time (CLAIM_BATCH, one statement on PostgreSQL) under a short
lease (settings.mail_lease_s, renewed by a keeper thread for the mail being built and sent),
and sent one by one on one SMTP connection. Right before each send one compare-and-set hands
the mail over (`hand_over`: renews the lease and stamps handed_at): it refuses a mail another
worker took over, one a late answer cancelled while it sat leased here, and an alert whose
incident was resolved meanwhile (that one is marked cancelled). So a claim of 8 never sends
"no answer" after the answer came; only a handed-over mail may have reached its recipient
(cloud/notify/followups.py follows up exactly those).
A worker killed mid-send holds up its few mails for one lease; another worker takes them
over. Every mail is handled on its own: one that cannot be built (a broken address) or that
the server refuses for good (5xx) is marked `failed` with a reason and never stops the mails
after it. SMTP down = mails wait and retry
with jittered exponential backoff.

What SMTP cannot promise: a worker killed after the server accepted the message but before
`sent` was recorded leaves a mail that the next worker sends again. Each outbox row keeps one
Message-ID so a receiving system can drop the copy (docs/operations.md, docs/decisions.md).
"""

from __future__ import annotations

import logging
import os
import random
import smtplib
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import (
    BindParameter,
    Connection,
    Engine,
    Row,
    Update,
    and_,
    bindparam,
    exists,
    not_,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from cloud.core import metrics
from cloud.core.clock import Clock
from cloud.core.config import Settings
from cloud.core.logging import log_event
from cloud.db import transaction
from cloud.mail import daily_report, headers
from cloud.mail.links import LinkSigner
from cloud.models import Incident, OutboxMail
from cloud.notify.base import CANCELLED, DELIVERED, EMAIL, Channel, DeliveryResult

log = logging.getLogger("mimamori.mail")

BACKOFF_FIRST_S = 5
BACKOFF_MAX_S = 3600
# A pass ends after this many mails so the worker records a completed pass (readiness) even
# while mail keeps flowing; the next pass starts right after.
MAX_PER_PASS = 200
# Mails leased per claim. Small: a help alert queued after a claim waits behind at most this
# many sends, and a killed worker's batch waits one lease.
CLAIM_BATCH = 8


Rng = Callable[[], float]  # uniform in [0, 1), e.g. random.random or random.Random(seed).random


def worker_identity() -> str:
    """host:pid:nonce, unique per process (a restarted worker is a new owner)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def backoff_ceiling(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s, ... capped at an hour: the longest wait after `attempts` failures."""
    return timedelta(seconds=min(BACKOFF_FIRST_S * 2 ** max(0, attempts - 1), BACKOFF_MAX_S))


def backoff(attempts: int, rng: Rng = random.random) -> timedelta:
    """Equal jitter: between half the ceiling and the ceiling.

    Thousands of mails queued during an SMTP outage fail together; without jitter they would
    retry together forever, hitting the recovering server in bursts. Half the delay stays
    fixed so a retry is never immediate."""
    ceiling = backoff_ceiling(attempts)
    return ceiling / 2 + ceiling / 2 * rng()


@dataclass
class SendSummary:
    sent: int = 0
    retried: int = 0
    failed: int = 0

    def __bool__(self) -> bool:
        return bool(self.sent or self.retried or self.failed)


# Every channel's send returns the same result (cloud/notify/base.py); for SMTP the reason is
# build | address | smtp_5xx | smtp_unsupported | smtp | connect.
Outcome = DeliveryResult
SENT = DELIVERED


def build_message(mail: OutboxMail, sender: str, now: datetime) -> EmailMessage:
    """The MIME message; headers.UnsafeHeader when an address or field name is unusable."""
    msg = EmailMessage(policy=headers.SMTP_POLICY)
    msg["Subject"] = headers.display_text(mail.subject)
    extra = dict(mail.headers or {})
    extra.pop(daily_report.UNANSWERED_FIELD, None)  # carried for the sender, never sent
    msg["From"] = headers.sender(sender, extra.pop(headers.SENDER_NAME_FIELD, None))
    msg["To"] = headers.address(mail.to_addr)
    msg["Date"] = format_datetime(now)
    # Stable per outbox row: a receiving system can drop a duplicate after a crash.
    msg["Message-ID"] = f"<{mail.id}@mimamori.invalid>"
    for name, value in extra.items():
        msg[headers.field_name(str(name))] = headers.display_text(str(value))
    msg.set_content(mail.text_body)
    if mail.html_body:
        msg.add_alternative(mail.html_body, subtype="html")
    return msg


@dataclass
class Claimed:
    mail: OutboxMail
    household_id: str | None
    took_over_from: str | None  # the previous lease owner whose lease ran out
    leased_at: datetime  # when the lease was taken (a stall is measured from here)

    def fields(self) -> dict[str, object]:
        return {
            "mail_id": self.mail.id,
            "kind": self.mail.kind,
            "incident_id": self.mail.incident_id,
            "household_id": self.household_id,
            # Never a LINE user id in the logs: for LINE the "domain" is the channel.
            "to_domain": self.mail.to_addr.rpartition("@")[2][:80]
            if self.mail.channel in (EMAIL, None)
            else self.mail.channel,
        }


def _claim_one(
    sessions: sessionmaker[Session],
    now: datetime,
    lease: timedelta,
    owner: str,
    conn: Connection | None = None,
) -> Claimed | None:
    """The most overdue pending mail, leased to `owner` (compare-and-set), or None."""
    claimed = _claim(sessions, now, lease, owner, conn, 1)
    return claimed[0] if claimed else None


def _claim(
    sessions: sessionmaker[Session],
    now: datetime,
    lease: timedelta,
    owner: str,
    conn: Connection | None,
    count: int,
) -> list[Claimed]:
    """Up to `count` due mails in claim order, each leased to `owner` (compare-and-set)."""
    if conn is not None:
        return _claim_pg(conn, now, lease, owner, count)
    claimed: list[Claimed] = []
    with transaction(sessions) as session:
        stmt = (
            select(OutboxMail, Incident.household_id)
            .outerjoin(Incident, Incident.id == OutboxMail.incident_id)
            .where(OutboxMail.status == "pending", OutboxMail.next_attempt_at <= now)
            # Index order (ix_mail_outbox_claim): alarms first, then the longest due; a dead
            # worker's mail rejoins the queue when its lease runs out. A few rows, so workers
            # skipping each other's locks still find one.
            .order_by(OutboxMail.priority, OutboxMail.next_attempt_at)
            .limit(count + 3)
        )
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=OutboxMail)
        for row in session.execute(stmt).all():
            one = _lease(session, row, now, lease, owner)
            if one is not None:
                claimed.append(one)
                if len(claimed) == count:
                    break
    return claimed


_MAIL_COLUMNS = tuple(OutboxMail.__table__.c)


def _claim_pg(
    conn: Connection, now: datetime, lease: timedelta, owner: str, count: int
) -> list[Claimed]:
    """PostgreSQL: pick (SKIP LOCKED), lease and read `count` mails in one autocommit
    statement; in claim order (RETURNING has none of its own)."""
    picked = (
        select(
            OutboxMail.id,
            OutboxMail.lease_owner.label("previous"),
            OutboxMail.next_attempt_at.label("due"),
        )
        .where(OutboxMail.status == "pending", OutboxMail.next_attempt_at <= now)
        .order_by(OutboxMail.priority, OutboxMail.next_attempt_at)
        .limit(count)
        .with_for_update(skip_locked=True)
        .cte("picked")
    )
    household = (
        select(Incident.household_id).where(Incident.id == OutboxMail.incident_id).scalar_subquery()
    )
    rows = conn.execute(
        update(OutboxMail)
        .where(OutboxMail.id == picked.c.id)
        .values(next_attempt_at=now + lease, lease_owner=owner)
        .returning(*_MAIL_COLUMNS, picked.c.previous, picked.c.due, household.label("household_id"))
    ).all()
    claimed = []
    for row in sorted(rows, key=lambda r: (r.priority, r.due)):
        mail = OutboxMail(**{c.key: getattr(row, c.key) for c in _MAIL_COLUMNS})
        previous = row.previous
        claimed.append(
            Claimed(mail, row.household_id, previous if previous != owner else None, now)
        )
    return claimed


def _lease(
    session: Session, row: Row, now: datetime, lease: timedelta, owner: str
) -> Claimed | None:
    mail: OutboxMail = row[0]
    previous = mail.lease_owner
    took = session.execute(
        update(OutboxMail)
        .where(
            OutboxMail.id == mail.id,
            OutboxMail.status == "pending",
            OutboxMail.next_attempt_at == mail.next_attempt_at,
        )
        .values(next_attempt_at=now + lease, lease_owner=owner)
        .execution_options(synchronize_session=False)
    )
    if took.rowcount != 1:
        return None  # another worker moved it since we read it
    mail.next_attempt_at, mail.lease_owner = now + lease, owner
    return Claimed(mail, row[1], previous if previous and previous != owner else None, now)


# The per-mail statements, built once with bind parameters: building and hashing a new
# statement for every mail was a tenth of a mail's worker CPU (bench/worker_cost.py).
_MAIL = OutboxMail.__table__
_INCIDENTS = Incident.__table__
_OURS = and_(
    _MAIL.c.id == bindparam("m_id"),
    _MAIL.c.status == "pending",
    _MAIL.c.lease_owner == bindparam("m_owner"),
)


def _set(*columns: str) -> dict[str, BindParameter]:
    return {c: bindparam(f"v_{c}", type_=_MAIL.c[c].type) for c in columns}


_RENEW = update(_MAIL).where(_OURS).values(_set("next_attempt_at"))
# An alert of an incident resolved since it was queued (a late answer, staff closed the
# case): "no answer" about a closed case is a false alarm, so it is never handed over.
_CASE_CLOSED = and_(
    _MAIL.c.kind.startswith("alert."),
    exists().where(_INCIDENTS.c.id == _MAIL.c.incident_id, _INCIDENTS.c.state == "resolved"),
)
_HAND_OVER = (
    update(_MAIL).where(_OURS, not_(_CASE_CLOSED)).values(_set("next_attempt_at", "handed_at"))
)
CASE_CLOSED_REASON = "cancelled: resolved before sending"
_CLOSE = (
    update(_MAIL)
    .where(_OURS)
    .values(status=CANCELLED, last_error=CASE_CLOSED_REASON, lease_owner=None)
)
REISSUED_REASON = "cancelled: reissued after a late answer"
_REISSUED = (
    update(_MAIL)
    .where(_OURS)
    .values(status=CANCELLED, last_error=REISSUED_REASON, lease_owner=None)
)
_RECORDS: dict[tuple[str, ...], Update] = {}


def _record_statement(columns: tuple[str, ...]) -> Update:
    """The outcome's UPDATE (sent, failed or retry: one shape each), built once."""
    stmt = _RECORDS.get(columns)
    if stmt is None:
        stmt = _RECORDS[columns] = (
            update(_MAIL)
            .where(_MAIL.c.id == bindparam("m_id"), _MAIL.c.lease_owner == bindparam("m_owner"))
            .values({**_set(*columns), "lease_owner": None})
        )
    return stmt


def _changed(
    sessions: sessionmaker[Session],
    conn: Connection | None,
    stmt: Update,
    params: dict[str, object],
) -> int:
    """Rows `stmt` changed: on the pass's autocommit connection (PostgreSQL), else in a
    transaction of its own."""
    if conn is not None:
        return conn.execute(stmt, params).rowcount
    with transaction(sessions) as session:
        return session.execute(stmt, params).rowcount


def _renew(sessions: sessionmaker[Session], mail_id: str, owner: str, until: datetime) -> bool:
    params = {"m_id": mail_id, "m_owner": owner, "v_next_attempt_at": until}
    return _changed(sessions, None, _RENEW, params) == 1


def _hand_over(
    sessions: sessionmaker[Session],
    conn: Connection | None,
    mail_id: str,
    owner: str,
    now: datetime,
    lease: timedelta,
) -> str:
    """The per-send compare-and-set: "ours" (renewed and stamped handed_at: send it),
    "cancelled" (a late answer or a closed case stopped it) or "lost" (taken over)."""
    ours = {"m_id": mail_id, "m_owner": owner}
    handed = {**ours, "v_next_attempt_at": now + lease, "v_handed_at": now}
    if _changed(sessions, conn, _HAND_OVER, handed) == 1:
        return "ours"
    # Refused (rare): still ours and pending means its case closed; cancel it here.
    if _changed(sessions, conn, _CLOSE, ours) == 1:
        return "cancelled"
    with sessions() as session:
        status = session.scalar(select(OutboxMail.status).where(OutboxMail.id == mail_id))
    return "cancelled" if status == CANCELLED else "lost"


class _NotOurs(Exception):
    """The lease was lost while a report was being reissued: roll the reissue back."""


def _reissue_report(
    sessions: sessionmaker[Session], settings: Settings, now: datetime, mail: OutboxMail, owner: str
) -> str:
    """A daily report that said 応答なし: "keep" it, or "reissued" (an answer came late; the
    corrected report is queued and this one cancelled, one transaction), or "lost"."""
    if mail.kind != daily_report.KIND or daily_report.UNANSWERED_FIELD not in (mail.headers or {}):
        return "keep"
    signer = LinkSigner(settings.secret_key, settings.base_url, settings.ack_link_max_age_s)
    try:
        with transaction(sessions) as session:
            if daily_report.reissue_if_answered(session, signer, mail, now) is None:
                return "keep"
            if session.execute(_REISSUED, {"m_id": mail.id, "m_owner": owner}).rowcount != 1:
                raise _NotOurs
    except _NotOurs:
        return "lost"
    return "reissued"


@dataclass
class Hold:
    """The lease on the mail being sent; `lost` once another worker has taken it over or it
    was cancelled (`cancelled`) while leased."""

    claimed: Claimed
    renewed_at: datetime
    lost: bool = False
    cancelled: bool = False


class LeaseKeeper:
    """One thread per pass renewing the lease of the mail being sent, every third of the
    lease, so a slow SMTP conversation keeps its mail while a dead worker's runs out."""

    def __init__(
        self, sessions: sessionmaker[Session], clock: Clock, owner: str, lease: timedelta
    ) -> None:
        self.sessions, self.clock, self.owner, self.lease = sessions, clock, owner, lease
        self._current: Hold | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mail-lease", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @contextmanager
    def hold(self, claimed: Claimed) -> Iterator[Hold]:
        hold = Hold(claimed, renewed_at=claimed.leased_at)
        with self._lock:
            self._current = hold
        try:
            yield hold
        finally:
            with self._lock:
                self._current = None

    def hand_over(self, hold: Hold, conn: Connection | None = None) -> bool:
        """Right before the send, always: the per-send compare-and-set (`_hand_over`).
        Never send what another worker took over, what a late answer cancelled while it was
        leased here, nor an alert of a case closed meanwhile."""
        if hold.lost:
            return False
        now = self.clock()
        verdict = _hand_over(self.sessions, conn, hold.claimed.mail.id, self.owner, now, self.lease)
        if verdict == "ours":
            hold.renewed_at = now
            return True
        hold.lost, hold.cancelled = True, verdict == "cancelled"
        return False

    def _renew(self, hold: Hold) -> None:
        now = self.clock()
        if _renew(self.sessions, hold.claimed.mail.id, self.owner, now + self.lease):
            hold.renewed_at = now
        else:
            hold.lost = True

    def _run(self) -> None:
        while not self._stop.wait(self.lease.total_seconds() / 3):
            with self._lock:
                hold = self._current
            if hold is None or hold.lost:
                continue
            try:
                self._renew(hold)
            except Exception:  # a database blip: the next renewal tries again
                log.warning("mail lease renewal failed", exc_info=True)


class SmtpLink:
    """One SMTP connection per pass, opened on first use and reopened after a broken one.

    A failed connect is remembered for the rest of the pass: the other due mails of the pass
    get the same transient error at once instead of a timeout each."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.conn: smtplib.SMTP | None = None
        self.down: str | None = None

    def send(self, msg: EmailMessage | Prepared) -> Outcome:
        if self.down is not None:
            return Outcome(self.down, "connect")
        if self.conn is None:
            try:
                s = self.settings
                self.conn = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s)
            except (OSError, smtplib.SMTPException) as exc:
                self.down = str(exc) or type(exc).__name__
                return Outcome(self.down, "connect")
        try:
            _transmit(self.conn, msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            return Outcome(f"recipient refused: {exc.recipients}", "smtp_5xx", min(codes) >= 500)
        except smtplib.SMTPNotSupportedError as exc:
            return Outcome(f"server cannot take this mail: {exc}", "smtp_unsupported", True)
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600:
                return Outcome(f"{exc.smtp_code} {exc.smtp_error!r}", "smtp_5xx", True)
            self.close()  # 4xx: the server may have dropped us (421); reconnect next time
            return Outcome(f"{exc.smtp_code} {exc.smtp_error!r}", "smtp")
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            return Outcome(str(exc) or type(exc).__name__, "smtp")
        return SENT

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()


@dataclass(frozen=True)
class Prepared:
    """A message serialised once, with its envelope. Serialising is most of a mail's CPU
    (RFC 2047 folding of Japanese headers): the check that a mail can be encoded and the
    bytes sent are the same serialisation."""

    msg: EmailMessage
    data: bytes
    sender: str
    recipients: tuple[str, ...]

    @classmethod
    def of(cls, msg: EmailMessage) -> Prepared:
        sender = msg["From"].addresses[0].addr_spec
        recipients = tuple(a.addr_spec for a in msg["To"].addresses)
        return cls(msg, msg.as_bytes(), sender, recipients)

    @property
    def plain_ascii(self) -> bool:
        return self.sender.isascii() and all(r.isascii() for r in self.recipients)


def _transmit(conn: smtplib.SMTP, msg: EmailMessage | Prepared) -> None:
    """The prepared bytes as they are; an international address (SMTPUTF8, re-serialised
    as UTF-8) or a bare message through smtplib's send_message."""
    if isinstance(msg, Prepared) and msg.plain_ascii:
        conn.sendmail(msg.sender, list(msg.recipients), msg.data)
    else:
        conn.send_message(msg.msg if isinstance(msg, Prepared) else msg)


def send_due(
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    rng: Rng = random.random,
    owner: str | None = None,
    channels: Mapping[str, Channel] | None = None,
    claim_batch: int = CLAIM_BATCH,
) -> SendSummary:
    """Send the due deliveries one by one (at most MAX_PER_PASS), claimed `claim_batch` at a
    time; returns what happened.

    E-mail goes over SMTP here; a row of another channel (LINE) is sent by `channels[name]`
    under the same claim, lease, retry and failure rules."""
    owner = owner or worker_identity()
    lease = timedelta(seconds=settings.mail_lease_s)
    summary = SendSummary()
    link = SmtpLink(settings)
    conn = _pass_connection(sessions)
    try:
        with LeaseKeeper(sessions, clock, owner, lease) as keeper:
            left = MAX_PER_PASS
            while left > 0:
                asked = min(claim_batch, left)
                batch = _claim(sessions, clock(), lease, owner, conn, asked)
                for claimed in batch:
                    _deliver(keeper, settings, clock, link, claimed, summary, rng, conn, channels)
                left -= len(batch)
                if len(batch) < asked:
                    break  # nothing more due (or taken by others): the next pass looks again
    finally:
        link.close()
        if conn is not None:
            conn.close()
    return summary


def _pass_connection(sessions: sessionmaker[Session]) -> Connection | None:
    """PostgreSQL: one autocommit connection for the pass, so claiming and recording a mail
    are one round trip each (every statement is atomic on its own). SQLite: None (sessions;
    BEGIN IMMEDIATE serialises the writers)."""
    engine: Engine = sessions.kw["bind"]
    if engine.dialect.name != "postgresql":
        return None
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def _deliver(
    keeper: LeaseKeeper,
    settings: Settings,
    clock: Clock,
    link: SmtpLink,
    claimed: Claimed,
    summary: SendSummary,
    rng: Rng,
    conn: Connection | None = None,
    channels: Mapping[str, Channel] | None = None,
) -> None:
    fields = claimed.fields()
    # One line per lease taken: which attempt of which mail, for which incident.
    log_event(log, "mail.leased", attempt=claimed.mail.attempts + 1, **fields)
    if claimed.took_over_from:
        metrics.MAIL_LEASES_TAKEN_OVER.inc()
        log_event(log, "mail.lease_taken_over", previous_owner=claimed.took_over_from, **fields)
    reissue = _reissue_report(keeper.sessions, settings, clock(), claimed.mail, keeper.owner)
    if reissue != "keep":  # the corrected report goes in its place (claimed next)
        metrics.MAILS.labels("reissued" if reissue == "reissued" else "lease_lost").inc()
        log_event(log, f"mail.report_{reissue}", **fields)
        return
    with keeper.hold(claimed) as hold:
        if claimed.mail.channel not in (EMAIL, None):  # None: a row not yet flushed
            outcome = _send_other(claimed.mail, channels or {}, keeper, hold, conn)
        else:
            msg, outcome = _build(claimed.mail, settings, clock)
            if msg is not None and keeper.hand_over(hold, conn):
                outcome = link.send(msg)
    if hold.cancelled:  # the answer came (or the case closed) before it was handed over
        metrics.MAILS.labels("cancelled").inc()
        log_event(log, "mail.cancelled_before_send", **fields)
        return
    if hold.lost:  # another worker took the mail over: it records the outcome, not us
        metrics.MAILS.labels("lease_lost").inc()
        sent = outcome is not None and outcome.error is None
        log_event(log, "mail.lease_lost", logging.WARNING, sent=sent, **fields)
        return
    assert outcome is not None
    # Recorded right after the send: a crash can repeat at most this one mail.
    _record(keeper.sessions, settings, clock(), claimed, keeper.owner, outcome, summary, rng, conn)


def _send_other(
    mail: OutboxMail,
    channels: Mapping[str, Channel],
    keeper: LeaseKeeper,
    hold: Hold,
    conn: Connection | None = None,
) -> Outcome | None:
    channel = channels.get(mail.channel)
    if channel is None:  # this worker has no such channel configured: try again later
        return Outcome(f"no {mail.channel} channel in this worker", "channel")
    if not keeper.hand_over(hold, conn):
        return None
    try:
        return channel.send(mail)
    except Exception as exc:  # a channel bug fails this one delivery, never the pass
        return Outcome(f"{type(exc).__name__}: {exc}", "build", True)


def _build(
    mail: OutboxMail, settings: Settings, clock: Clock
) -> tuple[Prepared | None, Outcome | None]:
    """(message, None), or (None, the permanent failure of a mail that cannot be built)."""
    try:
        # Serialised now: an unencodable header fails here, not half-sent.
        msg = Prepared.of(build_message(mail, settings.smtp_from, clock()))
    except headers.UnsafeHeader as exc:
        return None, Outcome(str(exc), "address", True)
    except Exception as exc:  # any mail that cannot be built is a poison pill: fail it alone
        return None, Outcome(f"{type(exc).__name__}: {exc}", "build", True)
    return msg, None


def _record(
    sessions: sessionmaker[Session],
    settings: Settings,
    now: datetime,
    claimed: Claimed,
    owner: str,
    outcome: Outcome,
    summary: SendSummary,
    rng: Rng,
    conn: Connection | None = None,
) -> None:
    mail = claimed.mail
    values = _result_values(settings, now, mail, outcome, summary, rng)
    stmt = _record_statement(tuple(values))
    params = {"m_id": mail.id, "m_owner": owner, **{f"v_{k}": v for k, v in values.items()}}
    _changed(sessions, conn, stmt, params)  # PostgreSQL: one autocommit statement
    event = {"sent": "mail.sent", "failed": "mail.failed"}.get(
        values.get("status", ""), "mail.retry"
    )
    level = logging.ERROR if event == "mail.failed" else logging.INFO
    log_event(
        log,
        event,
        level,
        attempts=values["attempts"],
        reason=outcome.reason or None,
        error=outcome.error,
        **claimed.fields(),
    )


def _result_values(
    settings: Settings,
    now: datetime,
    mail: OutboxMail,
    outcome: Outcome,
    summary: SendSummary,
    rng: Rng,
) -> dict:
    attempts = mail.attempts + 1
    if outcome.error is None:
        summary.sent += 1
        metrics.MAILS.labels("sent").inc()
        return {"status": "sent", "sent_at": now, "attempts": attempts, "last_error": None}
    error = f"{outcome.reason}: {outcome.error}"[:2000]
    if outcome.permanent or attempts >= settings.mail_max_attempts:
        summary.failed += 1
        metrics.MAILS.labels("failed").inc()
        reason = outcome.reason if outcome.permanent else "max_attempts"
        metrics.MAIL_FAILED.labels(reason).inc()
        if not outcome.permanent:
            error = f"max_attempts ({attempts}): {error}"[:2000]
        return {"status": "failed", "attempts": attempts, "last_error": error}
    summary.retried += 1
    metrics.MAILS.labels("retry").inc()
    wait = backoff(attempts, rng)
    if outcome.retry_after_s is not None:  # the service said when (LINE 429 Retry-After)
        wait = max(wait, timedelta(seconds=outcome.retry_after_s))
    return {
        "attempts": attempts,
        "last_error": error,
        "next_attempt_at": now + wait,
        # This attempt did not arrive: until the next one, a late answer may cancel it.
        "handed_at": None,
    }
