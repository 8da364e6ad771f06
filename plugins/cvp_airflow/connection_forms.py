"""The connection forms of the channels' types, in Spanish: hidden fields, labels, placeholders, extra fields.

Pure data, read by two readers: the provider's info (``cvp_airflow.provider``), which Airflow 3.2+
reads without importing any hook (``hook-name``, ``ui-field-behaviour``, ``conn-fields``: what
``/ui/connections/hook_meta`` serves to the connection form), and the hooks' own
``get_ui_field_behaviour`` / ``get_connection_form_widgets``, for the readers that still ask the hook.
Nothing is imported here: the provider's info must load cheaply in every Airflow process.
"""

from __future__ import annotations

GRAPH_FIELDS = {
    "app_id": ("Id de la app de Meta (para vencimiento, permisos y renovación)", False),
    "app_secret": ("Secreto de la app de Meta", True),
    "version": ("Versión de la Graph API", False),
    "base_url": ("Dirección de la Graph API", False),
}

#: connection type → hook name, standard fields hidden or relabelled, placeholders, extra fields (label, secret).
FORMS: dict[str, dict] = {
    "cvp_x": {
        "hook_name": "X (Twitter) — CVP",
        "hidden": ["host", "schema", "port", "login"],
        "relabeling": {"password": "Token de acceso OAuth 2.0 (de usuario)"},
        "placeholders": {
            "password": "token de usuario con tweet.read tweet.write users.read media.write offline.access",
            "client_id": "id de cliente OAuth 2.0 de la app (para renovar el token)",
            "refresh_token": "token de actualización (scope offline.access)",
            "user_id": "id numérico de la cuenta (opcional)",
            "username": "CVPBogota (sin @, opcional)",
            "base_url": "https://api.x.com",
        },
        "fields": {
            "client_id": ("Id de cliente OAuth 2.0", False),
            "client_secret": ("Secreto de cliente OAuth 2.0 (app confidencial)", True),
            "refresh_token": ("Token de actualización", True),
            "user_id": ("Id de la cuenta", False),
            "username": ("Usuario de la cuenta", False),
            "consumer_key": ("OAuth 1.0a: API key", True),
            "consumer_secret": ("OAuth 1.0a: API key secret", True),
            "access_token": ("OAuth 1.0a: access token", True),
            "access_token_secret": ("OAuth 1.0a: access token secret", True),
            "base_url": ("Dirección de la API", False),
            "upload_base_url": ("Dirección de subida de medios", False),
        },
    },
    "cvp_facebook": {
        "hook_name": "Página de Facebook — CVP",
        "hidden": ["host", "schema", "port"],
        "relabeling": {"login": "Id de la página", "password": "Token de acceso de la página"},
        "placeholders": {
            "login": "104000000000001",
            "password": "token de página con pages_manage_posts, pages_read_engagement, read_insights",
            "app_id": "id de la app (opcional: vencimiento, permisos y renovación)",
            "version": "v25.0",
            "base_url": "https://graph.facebook.com",
            "video_base_url": "https://graph-video.facebook.com",
        },
        "fields": {**GRAPH_FIELDS, "video_base_url": ("Dirección de subida de videos", False)},
    },
    "cvp_instagram": {
        "hook_name": "Instagram — CVP",
        "hidden": ["host", "schema", "port"],
        "relabeling": {"login": "Id de la cuenta de Instagram (IG user id)", "password": "Token de acceso"},
        "placeholders": {
            "login": "17841400000000001",
            "password": "token con instagram_basic, instagram_content_publish, instagram_manage_insights",
            "version": "v25.0",
            "bucket": "bucket público de Google Cloud Storage (o carpeta + dirección pública)",
            "gcp_conn_id": "google_cloud_default",
            "public_base_url": "https://storage.googleapis.com/<bucket>",
        },
        "fields": {
            **GRAPH_FIELDS,
            "bucket": ("Bucket público (Google Cloud Storage)", False),
            "gcp_conn_id": ("Conexión de Google para el bucket", False),
            "storage_dir": ("Carpeta pública local", False),
            "public_base_url": ("Dirección pública de los archivos", False),
        },
    },
    "cvp_youtube": {
        "hook_name": "Canal de YouTube — CVP",
        "hidden": ["host", "schema", "port", "login", "password"],
        "relabeling": {},
        "placeholders": {
            "client_id": "123-abc.apps.googleusercontent.com",
            "refresh_token": "1//… (autorizado con youtube.upload y youtube.readonly)",
            "token_uri": "https://oauth2.googleapis.com/token",
            "api_key": "solo para leer métricas públicas (no publica)",
            "key_path": "/ruta/a/cuenta-de-servicio.json (credenciales del proveedor de Google)",
            "privacy_status": "public",
            "category_id": "29",
            "base_url": "https://youtube.googleapis.com/",
        },
        "fields": {
            "client_id": ("Id de cliente OAuth de Google", False),
            "client_secret": ("Secreto de cliente OAuth de Google", True),
            "refresh_token": ("Token de actualización", True),
            "token_uri": ("Dirección de tokens de Google", False),
            "api_key": ("Clave de API (solo métricas)", True),
            "key_path": ("Archivo de cuenta de servicio", False),
            "privacy_status": ("Privacidad de los videos (public, unlisted, private)", False),
            "category_id": ("Categoría de los videos", False),
            "base_url": ("Dirección de la API", False),
        },
    },
}


def ui_field_behaviour(conn_type: str) -> dict:
    """As a hook's ``get_ui_field_behaviour`` returns it."""
    form = FORMS[conn_type]
    return {
        "hidden_fields": list(form["hidden"]),
        "relabeling": dict(form["relabeling"]),
        "placeholders": dict(form["placeholders"]),
    }


def provider_entry(conn_type: str, hook_class_name: str) -> dict:
    """As a provider's info declares a connection type (the keys of ``provider.yaml``)."""
    form = FORMS[conn_type]
    return {
        "connection-type": conn_type,
        "hook-class-name": hook_class_name,
        "hook-name": form["hook_name"],
        "ui-field-behaviour": {
            "hidden-fields": list(form["hidden"]),
            "relabeling": dict(form["relabeling"]),
            "placeholders": dict(form["placeholders"]),
        },
        "conn-fields": {
            name: {
                "label": label,
                "schema": {"type": ["string", "null"], **({"format": "password"} if secret else {})},
                **({"description": form["placeholders"][name]} if name in form["placeholders"] else {}),
            }
            for name, (label, secret) in form["fields"].items()
        },
    }
