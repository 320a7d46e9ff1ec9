#!/usr/bin/env sh
# Writes the API server's OpenAPI schema to web/openapi.json, the input of `npm run gen:api`.
# Uses the repository's virtualenv unless AIAAS_PYTHON names another interpreter.
set -eu
web=$(cd "$(dirname "$0")/.." && pwd)
python=${AIAAS_PYTHON:-"$web/../.venv/bin/python"}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Run outside the repository so no local .env or data directory changes the schema.
(cd "$scratch" && AIAAS_DATA_DIR="$scratch" "$python" -c '
import json, sys
from aiaas.app import create_app
json.dump(create_app().openapi(), sys.stdout, indent=2, sort_keys=True)
print()
') > "$scratch/openapi.json"
mv "$scratch/openapi.json" "$web/openapi.json"
echo "wrote $web/openapi.json"
