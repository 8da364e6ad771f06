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

    pm = ProvidersManager()
    assert "cvp" in pm.providers
    for conn_type, name in TYPES.items():
        hook = pm.hooks[conn_type]
        assert hook is not None and hook.hook_class_name.endswith(name) and hook.package_name == "cvp"
        assert hook.connection_testable  # the form shows the "Test" button
    assert pm.field_behaviours["cvp_facebook"]["relabeling"]["login"] == "Id de la página"
    assert "extra__cvp_x__refresh_token" in pm.connection_form_widgets
    assert pm.connection_form_widgets["extra__cvp_x__refresh_token"].is_sensitive
