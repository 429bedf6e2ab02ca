"""Signed links in family e-mail: acknowledge an incident, unsubscribe (itsdangerous)."""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

ACK_SALT = "mimamori.ack.v1"
UNSUBSCRIBE_SALT = "mimamori.unsubscribe.v1"


class LinkExpired(Exception):
    pass


class LinkInvalid(Exception):
    pass


@dataclass(frozen=True)
class AckClaim:
    incident_id: str
    contact_id: str


class LinkSigner:
    def __init__(self, secret_key: str, base_url: str, ack_max_age_s: int) -> None:
        self._ack = URLSafeTimedSerializer(secret_key, salt=ACK_SALT)
        self._unsub = URLSafeTimedSerializer(secret_key, salt=UNSUBSCRIBE_SALT)
        self.base_url = base_url.rstrip("/")
        self.ack_max_age_s = ack_max_age_s

    def ack_url(self, incident_id: str, contact_id: str) -> str:
        token = self._ack.dumps({"i": incident_id, "c": contact_id})
        return f"{self.base_url}/family/ack/{token}"

    def unsubscribe_url(self, contact_id: str) -> str:
        return f"{self.base_url}/family/unsubscribe/{self._unsub.dumps({'c': contact_id})}"

    def read_ack(self, token: str) -> AckClaim:
        data = _loads(self._ack, token, self.ack_max_age_s)
        return AckClaim(str(data["i"]), str(data["c"]))

    def read_unsubscribe(self, token: str) -> str:
        # Unsubscribe links stay valid: an old mail must still be able to stop new ones.
        return str(_loads(self._unsub, token, None)["c"])


def _loads(serializer: URLSafeTimedSerializer, token: str, max_age: int | None) -> dict:
    try:
        data = serializer.loads(token, max_age=max_age)
    except SignatureExpired:
        raise LinkExpired("this link has expired") from None
    except BadSignature:
        raise LinkInvalid("this link is not valid") from None
    if not isinstance(data, dict):
        raise LinkInvalid("this link is not valid")
    return data
