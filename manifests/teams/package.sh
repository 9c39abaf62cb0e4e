#!/usr/bin/env bash
# Builds the Teams app package, baton-teams.zip: manifest.json with the bot's
# app id filled in, and the two icons, at the root of the zip (what Teams
# Admin Center / "Upload a custom app" and the Developer Portal accept).
#
# Usage:
#   TEAMS_APP_ID=<the Azure Bot's Entra app id, a GUID> \
#   [BATON_PUBLIC_HOST=baton.example.com] \
#   bash manifests/teams/package.sh [output.zip]      # default: ./baton-teams.zip
#
# - TEAMS_APP_ID (required) replaces {{TEAMS_APP_ID}}: the app id, the bot id
#   and webApplicationInfo (api://botid-<id>), which the resource-specific
#   consent Channel.Create.Group needs for incident channels.
# - BATON_PUBLIC_HOST replaces {{BATON_PUBLIC_HOST}} (validDomains and the
#   developer URLs): the host of server.public_url, no scheme.
# - The icons are taken from this directory, or drawn with make_icons.py
#   (python3 standard library) when missing.
# Needs python3 only (zipfile); `zip` is not required.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-baton-teams.zip}"
app_id="${TEAMS_APP_ID:-}"
host="${BATON_PUBLIC_HOST:-baton.example.com}"

guid='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
if [[ ! "$app_id" =~ $guid ]]; then
  echo "package.sh: set TEAMS_APP_ID to the bot's app id (a GUID), got '${app_id}'" >&2
  exit 2
fi
if [[ ! "$host" =~ ^[A-Za-z0-9.*-]+(:[0-9]+)?$ ]]; then
  echo "package.sh: BATON_PUBLIC_HOST must be a host name without scheme or path, got '${host}'" >&2
  exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for icon in color.png outline.png; do
  if [[ ! -f "$here/$icon" ]]; then
    python3 "$here/make_icons.py" "$here"
    break
  fi
done

python3 - "$here" "$work" "$app_id" "$host" "$out" <<'PY'
import json, os, sys, zipfile
here, work, app_id, host, out = sys.argv[1:6]
with open(os.path.join(here, "manifest.json"), encoding="utf-8") as f:
    text = f.read()
text = text.replace("{{TEAMS_APP_ID}}", app_id.lower()).replace("{{BATON_PUBLIC_HOST}}", host)
json.loads(text)  # still valid JSON
assert "{{" not in text, "an unfilled placeholder is left in manifest.json"
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("manifest.json", text)
    z.write(os.path.join(here, "color.png"), "color.png")
    z.write(os.path.join(here, "outline.png"), "outline.png")
print(out)
PY
