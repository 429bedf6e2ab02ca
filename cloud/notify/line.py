"""The LINE channel: push one outbox delivery with line-bot-sdk (v3), map LINE's answers.

The retry key (`X-Line-Retry-Key`) is the delivery's id, a UUID stable across attempts: if
a push reached LINE but the answer was lost, the retry gets 409 "already accepted" and
counts as delivered, so the family never gets it twice. 429 waits for Retry-After through
the outbox's next_attempt_at. An unknown or blocking user (400) fails the delivery for good;
the notify layer then falls back to e-mail within the same step (cloud/notify/outbox.py).
Webhook replies (`reply_texts`) are retried with tenacity inside the reply token's life.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import urllib3
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MessagingApi,
    PushMessageRequest,
)
from prometheus_client import Counter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
    wait_random,
)

from cloud.core.logging import log_event
from cloud.models import OutboxMail
from cloud.notify.base import DELIVERED, LINE, DeliveryResult

log = logging.getLogger("mimamori.line")

# What a delivery's headers carry for LINE: the credentials row and the message objects.
CHANNEL_FIELD = "line_channel"
MESSAGES_FIELD = "line_messages"
DEFAULT_RETRY_AFTER_S = 60.0

REPLIES = Counter(
    "mimamori_line_replies_total",
    "Answers to LINE webhook events through the reply API, by result (sent, retry = one more "
    "attempt after a 5xx/429/no answer, failed = given up)",
    ["result"],
)

TokenLookup = Callable[[str], str | None]  # line channel row id -> access token


class LineChannel:
    name = LINE

    def __init__(self, api_base: str, tokens: TokenLookup, timeout_s: float = 10.0) -> None:
        self.api_base = api_base.rstrip("/")
        self.tokens = tokens
        self.timeout_s = timeout_s
        self._clients: dict[str, ApiClient] = {}

    def _api(self, channel_ref: str) -> MessagingApi | None:
        client = self._clients.get(channel_ref)
        if client is None:
            token = self.tokens(channel_ref)
            if token is None:
                return None
            client = ApiClient(Configuration(host=self.api_base, access_token=token))
            self._clients[channel_ref] = client
        return MessagingApi(client)

    def send(self, delivery: OutboxMail) -> DeliveryResult:
        extra: dict[str, Any] = dict(delivery.headers or {})
        api = self._api(str(extra.get(CHANNEL_FIELD, "")))
        if api is None:
            return DeliveryResult("no LINE channel credentials for this office", "line_auth", True)
        try:
            request = PushMessageRequest.from_dict(
                {"to": delivery.to_addr, "messages": extra.get(MESSAGES_FIELD) or []}
            )
        except Exception as exc:  # a message LINE would refuse: fail it alone
            return DeliveryResult(f"{type(exc).__name__}: {exc}", "build", True)
        try:
            api.push_message_with_http_info(
                request, x_line_retry_key=delivery.id, _request_timeout=self.timeout_s
            )
        except ApiException as exc:
            return _from_status(exc)
        except Exception as exc:  # connection refused, timeout: try again later
            return DeliveryResult(str(exc) or type(exc).__name__, "line_connect")
        return DELIVERED

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def _from_status(exc: ApiException) -> DeliveryResult:
    status = int(exc.status or 0)
    body = (exc.body or b"")[:300]
    text = f"{status} {body.decode(errors='replace') if isinstance(body, bytes) else body}"
    if status == 409:  # this retry key was accepted before: it was delivered
        return DELIVERED
    if status == 429:
        return DeliveryResult(text, "line_rate", retry_after_s=_retry_after(exc))
    if status == 401 or status == 403:
        return DeliveryResult(text, "line_auth", True)
    if status == 400:  # the user blocked the account or is unknown to this channel
        return DeliveryResult(text, "line_blocked", True)
    if 400 <= status < 500:
        return DeliveryResult(text, "line_4xx", True)
    return DeliveryResult(text, "line")


def _retry_after(exc: ApiException) -> float:
    headers = exc.headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(1.0, float(value)) if value is not None else DEFAULT_RETRY_AFTER_S
    except ValueError:
        return DEFAULT_RETRY_AFTER_S


_REPLY_BACKOFF = wait_exponential(multiplier=0.2, max=2.0) + wait_random(0, 0.2)
# A reply token lives about a minute and works once: retries stay well inside its life, and
# no attempt starts after the budget (tenacity's stop_before_delay counts the coming wait).
REPLY_BUDGET_S = 20.0
REPLY_ATTEMPTS = 6


def _transient(exc: BaseException) -> bool:
    """Worth another try with the same reply token: LINE busy (5xx), rate limit (429), or no
    answer at all. A 4xx (used or expired token, bad message) never gets better."""
    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        return status == 429 or status >= 500
    return isinstance(exc, (OSError, urllib3.exceptions.HTTPError))


def _reply_wait(state: RetryCallState) -> float:
    """Jittered exponential backoff, never shorter than a 429's Retry-After."""
    backoff = _REPLY_BACKOFF(state)
    exc = state.outcome.exception() if state.outcome is not None else None
    if isinstance(exc, ApiException) and int(exc.status or 0) == 429:
        return max(backoff, _retry_after(exc))
    return backoff


def reply_texts(
    api_base: str,
    access_token: str,
    reply_token: str,
    texts: list[str],
    *,
    budget_s: float = REPLY_BUDGET_S,
    timeout_s: float = 5.0,
) -> bool:
    """Answer a webhook event through the reply API; True when LINE took it.

    Called after the webhook's 200 was sent (a background task), so retrying never delays
    LINE's webhook call. A transient failure is retried with backoff within `budget_s`; the
    token is never used again once LINE accepted it. Counted in mimamori_line_replies_total."""
    from linebot.v3.messaging import ReplyMessageRequest, TextMessage

    request = ReplyMessageRequest(
        reply_token=reply_token,
        messages=[TextMessage(text=t[:5000]) for t in texts],  # type: ignore[call-arg]
    )
    config = Configuration(host=api_base.rstrip("/"), access_token=access_token)
    retrying = Retrying(
        retry=retry_if_exception(_transient),
        wait=_reply_wait,
        stop=stop_before_delay(budget_s) | stop_after_attempt(REPLY_ATTEMPTS),
        before_sleep=lambda _state: REPLIES.labels("retry").inc(),
        reraise=True,
    )
    try:
        with ApiClient(config) as client:
            api = MessagingApi(client)
            for attempt in retrying:
                with attempt:
                    api.reply_message(request, _request_timeout=timeout_s)
    except Exception as exc:
        REPLIES.labels("failed").inc()
        status = getattr(exc, "status", None)
        log_event(
            log,
            "line.reply_failed",
            logging.WARNING,
            status=status,
            error=f"{type(exc).__name__}: {str(exc)[:200]}",
        )
        return False
    REPLIES.labels("sent").inc()
    return True
