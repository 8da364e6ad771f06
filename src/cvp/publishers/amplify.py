"""Amplifying a joint action of the Red Distrital: a repost or a quote on X, a share on Facebook.

Each amplifier takes the channel's publisher (its credentials, its HTTP session, its error mapping)
and offers the two calls the exactly-once ledger (:mod:`cvp.joint_amplification`) needs: ``post``,
sent once, and ``find``, which recognises among the account's recent posts the one of this action
after a call whose outcome is unknown. The wire shapes are the platforms' documented ones:

* X repost: ``POST /2/users/{id}/retweets`` with ``{"tweet_id": ...}`` → ``{"data": {"retweeted": true}}``;
* X quote: ``POST /2/tweets`` with ``{"text": ..., "quote_tweet_id": ...}`` → ``{"data": {"id": ...}}``;
* X message: ``POST /2/tweets`` with ``{"text": ...}``;
* X reconciliation: ``GET /2/users/{id}/tweets`` with ``tweet.fields=created_at,referenced_tweets``;
* Facebook share or message: ``POST /{page-id}/feed`` with ``message`` and ``link`` → ``{"id": ...}``;
* Facebook reconciliation: ``GET /{page-id}/posts``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cvp.errors import StorageUnavailable
from cvp.joint_actions import QUOTE, REPOST
from cvp.publishers.base import (
    OutcomeUnknown,
    PublishResult,
    TransientError,
    is_recent_enough,
    parse_datetime,
    same_text,
)
from cvp.publishers.facebook import FacebookPublisher
from cvp.publishers.x import XPublisher, response_data
from cvp.storage import Storage

log = logging.getLogger(__name__)


class Amplifier(Protocol):
    channel: str

    def post(self, mode: str, text: str, target: str, before_post: Callable[[], None]) -> PublishResult: ...

    def find(self, mode: str, text: str, target: str, not_before: datetime | None) -> PublishResult | None: ...


class XAmplifier:
    """Repost, quote or post on X with the credentials and transport of the channel's XPublisher."""

    channel = "x"

    def __init__(self, publisher: XPublisher):
        self.x = publisher

    def post(self, mode: str, text: str, target: str, before_post: Callable[[], None]) -> PublishResult:
        user_id = self.x._me()[0]  # a read: before the post, safe to retry
        before_post()
        transport = self.x._transport
        if mode == REPOST:
            response = transport.send(
                "POST", f"{self.x.base_url}/2/users/{user_id}/retweets", guarded=True, json={"tweet_id": target}
            )
            data = response_data(response)
            if data.get("retweeted") is not True:
                raise OutcomeUnknown(
                    "X respondió al repost sin confirmarlo: se verificará en la cuenta antes de volver a enviar.",
                    channel=self.channel,
                    detail=response.text[:300],
                )
            remote_id = str(data.get("rest_id") or data.get("id") or target)
            log.info("X: repost de %s hecho", target)
            return PublishResult(remote_id, self.x._status_url(target), self.x.clock())
        body: dict[str, Any] = {"text": text}
        if mode == QUOTE:
            body["quote_tweet_id"] = target
        response = transport.send("POST", f"{self.x.base_url}/2/tweets", guarded=True, json=body)
        tweet_id = str(response_data(response).get("id") or "")
        if not tweet_id:
            raise OutcomeUnknown(
                "X aceptó la publicación pero no devolvió su identificador: se verificará en la cuenta.",
                channel=self.channel,
                detail=response.text[:300],
            )
        log.info("X: publicada la acción conjunta como %s (%s)", tweet_id, mode)
        return PublishResult(tweet_id, self.x._status_url(tweet_id), self.x.clock())

    def find(self, mode: str, text: str, target: str, not_before: datetime | None) -> PublishResult | None:
        user_id = self.x._me()[0]
        params: dict[str, Any] = {"max_results": self.x.lookback, "tweet.fields": "created_at,referenced_tweets"}
        if not_before is not None:
            start = (not_before - timedelta(minutes=5)).astimezone(UTC)
            params["start_time"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")

        def read() -> dict:
            response = self.x._transport.send(
                "GET", f"{self.x.base_url}/2/users/{user_id}/tweets", guarded=False, params=params
            )
            return response.json() if response.content else {}

        body = self.x._read(read, "lectura de publicaciones recientes en X")
        for tweet in body.get("data") or []:
            refs = {(r.get("type"), str(r.get("id"))) for r in tweet.get("referenced_tweets") or []}
            created = parse_datetime(tweet.get("created_at"))
            if not is_recent_enough(created, not_before):
                continue
            if mode == REPOST and ("retweeted", target) in refs:
                return PublishResult(str(tweet["id"]), self.x._status_url(target), created)
            if mode == QUOTE and ("quoted", target) not in refs:
                continue
            if mode != REPOST and same_text(tweet.get("text"), text):
                return PublishResult(str(tweet["id"]), self.x._status_url(str(tweet["id"])), created)
        return None


class FacebookAmplifier:
    """Share the linked post (or post the message) on the Page, through the FacebookPublisher's Graph client."""

    channel = "facebook"

    def __init__(self, publisher: FacebookPublisher):
        self.fb = publisher

    def post(self, mode: str, text: str, target: str, before_post: Callable[[], None]) -> PublishResult:
        data = {"message": text}
        if target:
            data["link"] = target
        before_post()
        post_id = self.fb._id(self.fb.api.publish(f"{self.fb.page_id}/feed", data=data))
        return self.fb._result(post_id)

    def find(self, mode: str, text: str, target: str, not_before: datetime | None) -> PublishResult | None:
        piece_text = text.strip()
        if not piece_text:
            return None  # a share without a message cannot be told from another: a person confirms it
        from cvp.publishers.base import Piece

        return self.fb.find_published(
            Piece(need_id=0, channel=self.channel, text=piece_text, extra={"not_before": not_before})
        )


class OutboxAmplifier:
    """Without a platform connection: the action is written to the local outbox, to be posted by hand."""

    def __init__(self, root: Storage, channel: str, action_id: int):
        self.storage = Storage.coerce(root)
        self.channel = channel
        self.folder = f"red_distrital/{channel}/accion-{action_id}"

    def post(self, mode: str, text: str, target: str, before_post: Callable[[], None]) -> PublishResult:
        manifest = {
            "canal": self.channel,
            "modo": mode,
            "texto": text,
            "objetivo": target,
            "publicado_en": datetime.now(UTC).isoformat(),
        }
        before_post()
        try:
            self.storage.write_text(f"{self.folder}/accion.json", json.dumps(manifest, ensure_ascii=False, indent=2))
        except StorageUnavailable as exc:
            raise TransientError(exc.message, channel=self.channel) from exc
        return self._result()

    def find(self, mode: str, text: str, target: str, not_before: datetime | None) -> PublishResult | None:
        return self._result() if self.storage.exists(f"{self.folder}/accion.json") else None

    def _result(self) -> PublishResult:
        uri = self.storage.uri(f"{self.folder}/accion.json")
        return PublishResult(self.folder.rsplit("/", 1)[1], uri, datetime.now(UTC))


def amplifier_for(publisher: Any, channel: str, action_id: int, outbox: Storage | None = None) -> Amplifier:
    """The amplifier over a channel's publisher; the outbox one when the channel has no connection."""
    if isinstance(publisher, XPublisher):
        return XAmplifier(publisher)
    if isinstance(publisher, FacebookPublisher):
        return FacebookAmplifier(publisher)
    root = outbox if outbox is not None else getattr(publisher, "storage", None)
    if root is None:
        raise TypeError(f"No amplifier for {type(publisher).__name__}")
    return OutboxAmplifier(root, channel, action_id)
