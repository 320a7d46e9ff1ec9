"""The dashboard's committed OpenAPI schema (the source of its typed client) matches the server."""

from __future__ import annotations

import json
from pathlib import Path

from aiaas.app import create_app
from aiaas.config import Settings

WEB_SCHEMA = Path(__file__).resolve().parents[2] / "web" / "openapi.json"


def test_web_client_schema_matches_the_server(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)
    served = json.loads(json.dumps(create_app(settings).openapi()))
    committed = json.loads(WEB_SCHEMA.read_text())
    assert served == committed, (
        "web/openapi.json is out of date with the API: run "
        "`cd web && npm run openapi:dump && npm run gen:api` and commit both files"
    )
