"""The project as an Airflow provider: its connection types, so the connection form knows them.

Loaded by Airflow's ``ProvidersManager`` through the ``apache_airflow_provider`` entry point of
``pyproject.toml``; it must stay cheap (no hook is imported: the forms are data, in
:mod:`cvp_airflow.connection_forms`). ``package-name`` must be the distribution's name (``cvp``), or
Airflow refuses every provider.
"""

from __future__ import annotations

from cvp_airflow.connection_forms import provider_entry

HOOKS = {
    "cvp_x": "cvp_airflow.platforms.x.XHook",
    "cvp_facebook": "cvp_airflow.platforms.meta.FacebookPageHook",
    "cvp_instagram": "cvp_airflow.platforms.meta.InstagramHook",
    "cvp_youtube": "cvp_airflow.platforms.youtube.YouTubeHook",
}


def get_provider_info() -> dict:
    return {
        "package-name": "cvp",
        "name": "CVP 208-COM-Pr-04",
        "description": "Canales de publicación de la Caja de la Vivienda Popular: X, Facebook, Instagram y YouTube.",
        "versions": ["0.1.0"],
        "hooks": [
            {
                "integration-name": "CVP canales",
                "python-modules": [
                    "cvp_airflow.platforms.x",
                    "cvp_airflow.platforms.meta",
                    "cvp_airflow.platforms.youtube",
                ],
            }
        ],
        "connection-types": [provider_entry(conn_type, hook) for conn_type, hook in HOOKS.items()],
    }
