"""Facebook Page: a post on the office's Page through the Graph API, with a Page access token.

* text (and an optional link in ``piece.extra["link"]``): ``POST /{page-id}/feed``;
* one image: ``POST /{page-id}/photos`` (multipart ``source``, ``caption``, ``alt_text_custom``),
  which uploads and posts in one call;
* several images: each uploaded with ``published=false`` (safe to retry), then one
  ``POST /{page-id}/feed`` with ``attached_media[i]={"media_fbid": id}``;
* video: ``POST /{page-id}/videos`` (multipart ``source``, ``description``, ``title``) or, above
  ``resumable_threshold``, the resumable upload ``upload_phase=start`` → ``transfer`` (chunks,
  safe to retry) → ``finish`` (the post).

The call that makes the post public is sent once (see :class:`cvp.publishers.graph.GraphApi`).
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urljoin

import httpx

from cvp import procedure as P
from cvp.publishers.base import (
    MediaFile,
    MediaRejected,
    OutcomeUnknown,
    Piece,
    PublishResult,
    TransientError,
    about_to_post,
    announces_post,
    check_file,
    is_recent_enough,
    not_before,
    parse_datetime,
    same_text,
    split_media,
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

log = logging.getLogger(__name__)

GRAPH_VIDEO_URL = "https://graph-video.facebook.com"
FACEBOOK_WEB = "https://www.facebook.com/"

MAX_IMAGES = 10
MAX_VIDEOS = 1
# Facebook's limits, from the channel registry (the pre-review checks read the same ones).
_FACEBOOK = P.CHANNEL["facebook"]
IMAGE_MAX_BYTES = _FACEBOOK.media.images.max_size
VIDEO_MAX_BYTES = _FACEBOOK.media.videos.max_size
IMAGE_TYPES = _FACEBOOK.media.images.formats
VIDEO_TYPES = _FACEBOOK.media.videos.formats
MESSAGE_MAX = _FACEBOOK.text.max_length
RESUMABLE_THRESHOLD = 100 * 1024 * 1024


class FacebookPublisher:
    """Publishes a piece on a Facebook Page."""

    channel = "facebook"

    def __init__(
        self,
        *,
        page_id: str,
        access_token: str,
        base_url: str = GRAPH_BASE_URL,
        video_base_url: str | None = None,
        version: str = GRAPH_VERSION,
        app_secret: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        resumable_threshold: int = RESUMABLE_THRESHOLD,
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        lookback: int = 25,
        conn_id: str = "facebook_default",
        client: httpx.Client | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = utcnow,
    ):
        self.page_id = page_id
        self.conn_id = conn_id
        if video_base_url is None:
            # Meta documents video uploads on graph-video.facebook.com; a custom base (a test
            # fake, a proxy) serves both.
            video_base_url = GRAPH_VIDEO_URL if base_url.rstrip("/") == GRAPH_BASE_URL else base_url
        self.video_base_url = video_base_url.rstrip("/")
        self.resumable_threshold = resumable_threshold
        self.lookback = lookback
        self.clock = clock
        self.api = GraphApi(
            access_token=access_token,
            label=_FACEBOOK.label,
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
        if not piece.text.strip() and not piece.media:
            raise MediaRejected("La pieza para Facebook no tiene texto ni archivos.", channel=self.channel)
        if len(piece.text) > MESSAGE_MAX:
            raise MediaRejected(
                f"El texto para Facebook tiene {len(piece.text)} caracteres y el máximo es {MESSAGE_MAX}. Acórtelo.",
                channel=self.channel,
            )
        images, videos = split_media(
            piece,
            channel=self.channel,
            label=_FACEBOOK.label,
            max_images=MAX_IMAGES,
            max_videos=MAX_VIDEOS,
            accepted="imágenes o un video",
        )
        for m in images:
            check_file(
                m,
                channel=self.channel,
                label=_FACEBOOK.label,
                types=IMAGE_TYPES,
                max_bytes=IMAGE_MAX_BYTES,
                formats="imágenes JPG, PNG, GIF, BMP o TIFF",
            )
        for m in videos:
            check_file(
                m,
                channel=self.channel,
                label=_FACEBOOK.label,
                types=VIDEO_TYPES,
                max_bytes=VIDEO_MAX_BYTES,
                formats="video MP4 o MOV",
            )

    @announces_post
    def publish(self, piece: Piece) -> PublishResult:
        self.validate(piece)
        log.info(
            "Facebook: publicando la pieza de la necesidad %s con %s archivo(s)",
            piece.need_id,
            len(piece.media),
        )
        if not piece.media:
            data: dict[str, Any] = {"message": piece.text}
            if piece.extra.get("link"):
                data["link"] = str(piece.extra["link"])
            about_to_post(piece)
            post_id = self._id(self.api.publish(f"{self.page_id}/feed", data=data))
            return self._result(post_id)
        if piece.media[0].is_video:
            return self._publish_video(piece, piece.media[0])
        if len(piece.media) == 1:
            return self._publish_photo(piece, piece.media[0])
        return self._publish_album(piece)

    def find_published(self, piece: Piece) -> PublishResult | None:
        body = self.api.get(
            f"{self.page_id}/posts",
            {"fields": "id,message,permalink_url,created_time", "limit": self.lookback},
            what="lectura de publicaciones recientes de la página de Facebook",
        )
        bound = not_before(piece.extra)
        for post in graph_items(body):
            if not same_text(post.get("message"), piece.text):
                continue
            created = parse_datetime(post.get("created_time"))
            if not is_recent_enough(created, bound):
                continue
            post_id = str(post["id"])
            url = post.get("permalink_url") or urljoin(FACEBOOK_WEB, post_id)
            return PublishResult(remote_id=post_id, url=url, published_at=created)
        return None

    # -- flows -------------------------------------------------------------------------------

    def _publish_photo(self, piece: Piece, media: MediaFile) -> PublishResult:
        data = {"caption": piece.text, "published": True}
        if media.alt_text:
            data["alt_text_custom"] = media.alt_text
        with media.open() as fh:
            about_to_post(piece)  # the photo's upload is its post
            body = self.api.publish(
                f"{self.page_id}/photos",
                data=data,
                files={"source": (media.name, fh, media.media_type)},
            )
        return self._result(str(body.get("post_id") or self._id(body)))

    def _publish_album(self, piece: Piece) -> PublishResult:
        data: dict[str, Any] = {"message": piece.text}
        for index, media in enumerate(piece.media):
            with media.open() as fh:
                content = fh.read()
            form: dict[str, Any] = {"published": False}
            if media.alt_text:
                form["alt_text_custom"] = media.alt_text
            body = self.api.upload(
                f"{self.page_id}/photos",
                data=form,
                files={"source": (media.name, content, media.media_type)},
                what=f"subida de {media.name} a Facebook",
            )
            data[f"attached_media[{index}]"] = {"media_fbid": self._id(body, guarded=False)}
        about_to_post(piece)
        post_id = self._id(self.api.publish(f"{self.page_id}/feed", data=data))
        return self._result(post_id)

    def _publish_video(self, piece: Piece, media: MediaFile) -> PublishResult:
        data: dict[str, Any] = {"description": piece.text}
        if piece.title:
            data["title"] = piece.title
        path = f"{self.page_id}/videos"
        if media.size <= self.resumable_threshold:
            with media.open() as fh:
                about_to_post(piece)  # a small video's upload is its post
                body = self.api.publish(
                    path,
                    data=data,
                    files={"source": (media.name, fh, media.media_type)},
                    base_url=self.video_base_url,
                )
            return self._video_result(self._id(body))
        video_id, session_id = self._transfer(media)
        about_to_post(piece)
        body = self.api.publish(
            path,
            data={"upload_phase": "finish", "upload_session_id": session_id, **data},
            base_url=self.video_base_url,
        )
        if body.get("success") is not True:
            raise OutcomeUnknown(
                "Facebook no confirmó el cierre de la subida del video: no se sabe si quedó "
                "publicado. Se verificará en la página antes de volver a enviar.",
                channel=self.channel,
                detail=str(body)[:300],
            )
        return self._video_result(video_id)

    def _transfer(self, media: MediaFile) -> tuple[str, str]:
        """Resumable upload, start and transfer phases: returns (video id, upload session id)."""
        path = f"{self.page_id}/videos"
        start = self.api.upload(
            path,
            data={"upload_phase": "start", "file_size": media.size},
            what=f"inicio de la subida de {media.name} a Facebook",
            base_url=self.video_base_url,
        )
        session_id = str(start.get("upload_session_id") or "")
        video_id = str(start.get("video_id") or "")
        begin, end = int(start.get("start_offset", 0)), int(start.get("end_offset", 0))
        if not session_id or not video_id:
            raise TransientError(
                "Facebook no abrió la sesión de subida del video. Se reintentará.",
                channel=self.channel,
                detail=str(start)[:300],
            )
        with media.open() as fh:
            while begin < end:
                fh.seek(begin)
                chunk = fh.read(end - begin)
                body = self.api.upload(
                    path,
                    data={
                        "upload_phase": "transfer",
                        "upload_session_id": session_id,
                        "start_offset": begin,
                    },
                    files={"video_file_chunk": (media.name, chunk, "application/octet-stream")},
                    what=f"segmento {begin}-{end} de {media.name}",
                    base_url=self.video_base_url,
                )
                new_begin = int(body.get("start_offset", end))
                end = int(body.get("end_offset", end))
                if new_begin <= begin:
                    raise TransientError(
                        "Facebook no avanzó en la subida del video. Se reintentará.",
                        channel=self.channel,
                        detail=str(body)[:300],
                    )
                begin = new_begin
        return video_id, session_id

    # -- results -----------------------------------------------------------------------------

    def _id(self, body: dict, *, guarded: bool = True) -> str:
        object_id = body.get("id") or body.get("video_id")
        if not object_id and not guarded:
            raise TransientError(
                "Facebook no devolvió el identificador del archivo subido. Se reintentará.",
                channel=self.channel,
                detail=str(body)[:300],
            )
        if not object_id:
            raise OutcomeUnknown(
                "Facebook aceptó la solicitud pero no devolvió el identificador de la "
                "publicación. Se verificará en la página antes de volver a enviar.",
                channel=self.channel,
                detail=str(body)[:300],
            )
        return str(object_id)

    def _result(self, post_id: str) -> PublishResult:
        details = self.api.try_get(post_id, {"fields": "permalink_url,created_time"}, what="consulta del enlace")
        url = details.get("permalink_url") or urljoin(FACEBOOK_WEB, post_id)
        published_at = parse_datetime(details.get("created_time")) or self.clock()
        log.info("Facebook: publicada %s", post_id)
        return PublishResult(remote_id=post_id, url=urljoin(FACEBOOK_WEB, url), published_at=published_at)

    def _video_result(self, video_id: str) -> PublishResult:
        details = self.api.try_get(
            video_id, {"fields": "permalink_url,created_time"}, what="consulta del enlace del video"
        )
        url = details.get("permalink_url") or f"{self.page_id}/videos/{video_id}"
        published_at = parse_datetime(details.get("created_time")) or self.clock()
        log.info("Facebook: video publicado %s", video_id)
        return PublishResult(remote_id=video_id, url=urljoin(FACEBOOK_WEB, url), published_at=published_at)
