"""Instagram professional account: content publishing through the Graph API.

Instagram fetches media from a public URL, so each file is first placed in the office's public
storage (:class:`cvp.publishers.storage.PublicStorage`). Then:

1. ``POST /{ig-user-id}/media`` creates a container: ``image_url`` + ``caption`` + ``alt_text``;
   ``video_url`` + ``media_type=REELS``; or, for 2 to 10 files, one child container per file
   (``is_carousel_item=true``) and a ``media_type=CAROUSEL`` container with ``children``;
2. ``GET /{container-id}?fields=status_code,status`` is polled until ``FINISHED`` (bounded);
3. ``POST /{ig-user-id}/media_publish`` with ``creation_id``: the post, sent once.

Creating containers is safe to repeat: an unpublished container expires after 24 hours.
"""

from __future__ import annotations

import logging
import mimetypes
import time
from typing import Any

import httpx

from cvp import procedure as P
from cvp.publishers.base import (
    MediaFile,
    MediaRejected,
    OutcomeUnknown,
    Piece,
    PublishError,
    PublishResult,
    TransientError,
    about_to_post,
    announces_post,
    check_file,
    is_recent_enough,
    not_before,
    parse_datetime,
    same_text,
)
from cvp.publishers.graph import (
    GRAPH_BASE_URL,
    GRAPH_VERSION,
    GraphApi,
    graph_items,
)
from cvp.publishers.retry import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    DEFAULT_TIMEOUT,
    Clock,
    Sleep,
    utcnow,
)
from cvp.publishers.storage import PublicStorage

log = logging.getLogger(__name__)

# Instagram's limits, from the channel registry (the pre-review checks read the same ones); the content
# publishing API documents JPEG as the only image format.
_INSTAGRAM = P.CHANNEL["instagram"]
MAX_ITEMS = _INSTAGRAM.media.max_items
IMAGE_MAX_BYTES = _INSTAGRAM.media.images.max_size
VIDEO_MAX_BYTES = _INSTAGRAM.media.videos.max_size
IMAGE_TYPES = _INSTAGRAM.media.images.formats
VIDEO_TYPES = _INSTAGRAM.media.videos.formats
CAPTION_MAX = _INSTAGRAM.text.max_length
HASHTAGS_MAX = _INSTAGRAM.text.max_hashtags

FINISHED = ("FINISHED", "PUBLISHED")


class InstagramPublisher:
    """Publishes a piece on an Instagram professional account."""

    channel = "instagram"

    def __init__(
        self,
        *,
        ig_user_id: str,
        access_token: str,
        storage: PublicStorage,
        base_url: str = GRAPH_BASE_URL,
        version: str = GRAPH_VERSION,
        app_secret: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        poll_interval: float = 5.0,
        max_wait: float = 300.0,
        share_to_feed: bool = True,
        storage_prefix: str = "instagram",
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        lookback: int = 25,
        conn_id: str = "instagram_default",
        client: httpx.Client | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = utcnow,
    ):
        self.ig_user_id = ig_user_id
        self.storage = storage
        self.conn_id = conn_id
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self.share_to_feed = share_to_feed
        self.storage_prefix = storage_prefix.strip("/")
        self.lookback = lookback
        self.sleep = sleep
        self.clock = clock
        self.api = GraphApi(
            access_token=access_token,
            label=_INSTAGRAM.label,
            channel=self.channel,
            conn_id=conn_id,
            base_url=base_url,
            version=version,
            app_secret=app_secret,
            timeout=timeout,
            client=client,
            attempts=attempts,
            base_delay=base_delay,
            max_delay=max_delay,
            sleep=sleep,
            clock=clock,
        )

    # -- Publisher protocol ------------------------------------------------------------------

    def validate(self, piece: Piece) -> None:
        if not piece.media:
            raise MediaRejected(
                "Instagram exige al menos una imagen o un video. Adjunte el diseño aprobado a la pieza para Instagram.",
                channel=self.channel,
            )
        if len(piece.media) > MAX_ITEMS:
            raise MediaRejected(
                f"Un carrusel de Instagram admite hasta {MAX_ITEMS} archivos y la pieza tiene "
                f"{len(piece.media)}. Quite archivos del diseño.",
                channel=self.channel,
            )
        if len(piece.text) > CAPTION_MAX:
            raise MediaRejected(
                f"El texto para Instagram tiene {len(piece.text)} caracteres y el máximo es {CAPTION_MAX}. Acórtelo.",
                channel=self.channel,
            )
        hashtags = piece.text.count("#")
        if hashtags > HASHTAGS_MAX:
            raise MediaRejected(
                f"El texto para Instagram tiene {hashtags} etiquetas (#) y el máximo es "
                f"{HASHTAGS_MAX}. Quite etiquetas.",
                channel=self.channel,
            )
        for m in piece.media:
            if m.is_image:
                check_file(
                    m,
                    channel=self.channel,
                    label=_INSTAGRAM.label,
                    types=IMAGE_TYPES,
                    max_bytes=IMAGE_MAX_BYTES,
                    formats="imágenes JPG",
                )
            elif m.is_video:
                check_file(
                    m,
                    channel=self.channel,
                    label=_INSTAGRAM.label,
                    types=VIDEO_TYPES,
                    max_bytes=VIDEO_MAX_BYTES,
                    formats="video MP4 o MOV",
                )
            else:
                raise MediaRejected(
                    f"Instagram no admite el archivo '{m.name}' ({m.media_type}). Adjunte imágenes JPG o un video MP4.",
                    channel=self.channel,
                )

    @announces_post
    def publish(self, piece: Piece) -> PublishResult:
        self.validate(piece)
        urls = [self._put(piece, m) for m in piece.media]
        if len(piece.media) == 1:
            container = self._create(self._item(piece.media[0], urls[0], caption=piece.text))
        else:
            children = [
                self._create(self._item(m, url, carousel_item=True)) for m, url in zip(piece.media, urls, strict=True)
            ]
            for child in children:
                self._wait(child)
            container = self._create({"media_type": "CAROUSEL", "children": ",".join(children), "caption": piece.text})
        self._wait(container)
        log.info("Instagram: publicando el contenedor %s de la necesidad %s", container, piece.need_id)
        about_to_post(piece)
        body = self.api.publish(f"{self.ig_user_id}/media_publish", data={"creation_id": container})
        media_id = body.get("id")
        if not media_id:
            raise OutcomeUnknown(
                "Instagram aceptó la solicitud pero no devolvió el identificador de la "
                "publicación. Se verificará en la cuenta antes de volver a enviar.",
                channel=self.channel,
                detail=str(body)[:300],
            )
        media_id = str(media_id)
        details = self.api.try_get(media_id, {"fields": "permalink,timestamp"}, what="consulta del enlace")
        log.info("Instagram: publicada %s", media_id)
        return PublishResult(
            remote_id=media_id,
            url=details.get("permalink") or "",
            published_at=parse_datetime(details.get("timestamp")) or self.clock(),
        )

    def find_published(self, piece: Piece) -> PublishResult | None:
        body = self.api.get(
            f"{self.ig_user_id}/media",
            {"fields": "id,caption,permalink,timestamp", "limit": self.lookback},
            what="lectura de publicaciones recientes de Instagram",
        )
        bound = not_before(piece.extra)
        for item in graph_items(body):
            if not same_text(item.get("caption") or "", piece.text):
                continue
            created = parse_datetime(item.get("timestamp"))
            if not is_recent_enough(created, bound):
                continue
            return PublishResult(remote_id=str(item["id"]), url=item.get("permalink") or "", published_at=created)
        return None

    # -- steps -------------------------------------------------------------------------------

    def _put(self, piece: Piece, media: MediaFile) -> str:
        suffix = media.suffix or mimetypes.guess_extension(media.media_type) or ""
        key = f"{self.storage_prefix}/{piece.need_id}/{media.sha256}{suffix.lower()}"
        try:
            return self.storage.put(media.path, key, media.media_type)
        except PublishError:
            raise
        except Exception as exc:
            raise TransientError(
                f"No se pudo dejar '{media.name}' en el almacenamiento público que lee "
                "Instagram. Revise la conexión del almacenamiento; el envío se reintentará.",
                channel=self.channel,
                detail=f"{type(exc).__name__}: {exc}",
            ) from exc

    def _item(
        self, media: MediaFile, url: str, *, caption: str | None = None, carousel_item: bool = False
    ) -> dict[str, Any]:
        if media.is_video:
            item: dict[str, Any] = {
                "media_type": "VIDEO" if carousel_item else "REELS",
                "video_url": url,
            }
            if not carousel_item:
                item["share_to_feed"] = self.share_to_feed
        else:
            item = {"image_url": url}
            if media.alt_text:
                item["alt_text"] = media.alt_text
        if carousel_item:
            item["is_carousel_item"] = True
        if caption is not None:
            item["caption"] = caption
        return item

    def _create(self, data: dict[str, Any]) -> str:
        body = self.api.upload(f"{self.ig_user_id}/media", data=data, what="creación del contenedor de Instagram")
        container = body.get("id")
        if not container:
            raise TransientError(
                "Instagram no devolvió el identificador del contenedor. Se reintentará.",
                channel=self.channel,
                detail=str(body)[:300],
            )
        return str(container)

    def _wait(self, container: str) -> None:
        waited = 0.0
        while True:
            body = self.api.get(container, {"fields": "status_code,status"}, what="estado del contenedor")
            code = body.get("status_code")
            if code in FINISHED:
                return
            if code == "ERROR":
                raise PublishError(
                    "Instagram no pudo procesar el archivo "
                    f"({body.get('status') or 'sin detalle'}). Revise formato, proporción "
                    "(entre 4:5 y 1.91:1) y tamaño del diseño, y vuelva a aprobarlo.",
                    channel=self.channel,
                    detail=f"container={container} {body}",
                )
            if code == "EXPIRED":
                raise TransientError(
                    "El contenedor de Instagram venció antes de publicarse. Se creará uno nuevo al reintentar.",
                    channel=self.channel,
                    detail=f"container={container}",
                )
            if waited + self.poll_interval > self.max_wait:
                raise TransientError(
                    f"Instagram no terminó de procesar el archivo en {int(self.max_wait)} s. "
                    "Vuelva a intentar más tarde; aún no se ha publicado nada.",
                    channel=self.channel,
                    detail=f"container={container} status_code={code}",
                )
            self.sleep(self.poll_interval)
            waited += self.poll_interval
