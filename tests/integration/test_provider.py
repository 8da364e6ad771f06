"""The running stack knows the channels' connection types: Airflow's connection form offers them, with their fields.

Airflow 3.3 serves the form's metadata at ``/ui/connections/hook_meta`` (the UI's API; the public
``/api/v2`` has no such route), read from the providers' declarations without importing the hooks.
"""

from __future__ import annotations

import pytest

from tests.clients import Api

pytestmark = pytest.mark.integration

TYPES = {
    "cvp_x": ("X (Twitter) — CVP", "cvp_airflow.platforms.x.XHook"),
    "cvp_facebook": ("Página de Facebook — CVP", "cvp_airflow.platforms.meta.FacebookPageHook"),
    "cvp_instagram": ("Instagram — CVP", "cvp_airflow.platforms.meta.InstagramHook"),
    "cvp_youtube": ("Canal de YouTube — CVP", "cvp_airflow.platforms.youtube.YouTubeHook"),
}


def test_hook_meta_lists_the_four_channel_types(airflow_stack):
    status, body = Api(airflow_stack, "admin").call("GET", "/ui/connections/hook_meta")
    assert status == 200, body
    found = {h["connection_type"]: h for h in body if h.get("connection_type") in TYPES}
    assert set(found) == set(TYPES)
    for conn_type, (name, hook) in TYPES.items():
        assert (found[conn_type]["hook_name"], found[conn_type]["hook_class_name"]) == (name, hook)
    facebook = found["cvp_facebook"]
    assert facebook["standard_fields"]["login"]["title"] == "Id de la página"
    assert facebook["standard_fields"]["host"]["hidden"] is True
    assert facebook["extra_fields"]["app_secret"]["schema"]["format"] == "password"
    assert found["cvp_x"]["extra_fields"]["refresh_token"]["schema"]["title"] == "Token de actualización"
