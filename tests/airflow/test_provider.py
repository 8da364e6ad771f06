"""The project is an Airflow provider: its entry point loads and declares the channels' connection types."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

import airflow
import jsonschema

TYPES = {
    "cvp_x": "XHook",
    "cvp_facebook": "FacebookPageHook",
    "cvp_instagram": "InstagramHook",
    "cvp_youtube": "YouTubeHook",
}


def test_the_entry_point_gives_valid_provider_info():
    [ep] = [e for e in entry_points(group="apache_airflow_provider") if e.dist.metadata["Name"] == "cvp"]
    info = ep.load()()
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(info, schema)
    assert info["package-name"] == "cvp"  # Airflow refuses every provider when this differs from the distribution
    assert {c["connection-type"]: c["hook-class-name"].rsplit(".", 1)[1] for c in info["connection-types"]} == TYPES


def test_airflow_knows_the_connection_types_and_their_forms():
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    pm = ProvidersManager()
    assert "cvp" in pm.providers
    for conn_type, name in TYPES.items():
        hook = ProvidersManagerTaskRuntime().hooks[conn_type]  # what a task's Connection.get_hook() imports
        assert hook is not None and hook.hook_class_name.endswith(name) and hook.package_name == "cvp"
        assert hook.connection_testable  # the form shows the "Test" button
    assert pm.field_behaviours["cvp_facebook"]["relabeling"]["login"] == "Id de la página"
    assert "extra__cvp_x__refresh_token" in pm.connection_form_widgets
    assert pm.connection_form_widgets["extra__cvp_x__refresh_token"].is_sensitive


def test_the_connection_form_metadata_is_declared_without_importing_the_hooks():
    """What Airflow 3.3's API server serves to the connection form (``/ui/connections/hook_meta``)."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    meta = {m.connection_type: m for m in HookMetaService.hook_meta_data() if m.connection_type in TYPES}
    assert {t: m.hook_name for t, m in meta.items()} == {
        "cvp_x": "X (Twitter) — CVP",
        "cvp_facebook": "Página de Facebook — CVP",
        "cvp_instagram": "Instagram — CVP",
        "cvp_youtube": "Canal de YouTube — CVP",
    }
    assert meta["cvp_instagram"].standard_fields.login.title == "Id de la cuenta de Instagram (IG user id)"
    assert meta["cvp_youtube"].standard_fields.password.hidden
    assert meta["cvp_x"].extra_fields["client_secret"]["schema"]["format"] == "password"
    assert meta["cvp_x"].extra_fields["client_id"]["schema"]["title"] == "Id de cliente OAuth 2.0"


def test_the_hooks_form_methods_agree_with_the_declaration():
    from cvp_airflow.connection_forms import FORMS
    from cvp_airflow.platforms import HOOKS

    for hook in HOOKS.values():
        behaviour = hook.get_ui_field_behaviour()
        assert behaviour["hidden_fields"] == FORMS[hook.conn_type]["hidden"]
        assert set(hook.get_connection_form_widgets()) == set(FORMS[hook.conn_type]["fields"])
        assert hook.hook_name == FORMS[hook.conn_type]["hook_name"]
