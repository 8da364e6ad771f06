"""Registers the OAC's forms (issue 3) on Airflow's api-server: /cvp, linked from Airflow's navigation.

The FastAPI application is built on the first request that reaches it, not when the plugin is
loaded: every Airflow process loads the plugins folder (each task does, for macros), and only the
api-server serves the forms.
"""

from __future__ import annotations

import threading

from airflow.plugins_manager import AirflowPlugin

from cvp_airflow import run_changes


class LazyForms:
    """ASGI application that builds ``cvp_airflow.web.app.create_app()`` once, when first called."""

    def __init__(self):
        self._app = None
        self._lock = threading.Lock()

    def app(self):
        if self._app is None:
            with self._lock:
                if self._app is None:
                    from cvp_airflow.web.app import create_app

                    self._app = create_app()
        return self._app

    async def __call__(self, scope, receive, send):
        await self.app()(scope, receive, send)


forms = LazyForms()


class CvpFormsPlugin(AirflowPlugin):
    name = "cvp_formularios"
    fastapi_apps = [{"app": forms, "url_prefix": "/cvp", "name": "Comunicaciones CVP"}]
    # Changes to a need's run from Airflow's UI or REST API: refused for anyone but the head, else recorded.
    # A middleware, not a listener: a listener in the DAG processor or the workers would change how the
    # human steps end (Airflow refuses end_from_trigger with listeners), and only the request knows who.
    fastapi_root_middlewares = [{"middleware": run_changes.RunGuard, "name": "cambios_de_ejecucion_cvp"}]
    external_views = [
        {
            "name": "OAC",  # the navigation shows about eight characters
            "href": "/cvp/",
            "icon": "/cvp/static/icono.svg",
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
