#!/usr/bin/env bash
# ui.sh builds the web UI: npm ci (exactly the versions in
# api/ui/package-lock.json) and vite build into api/ui/dist/app, which the
# api package embeds. It needs Node.js 18 or later and npm: Debian 12's own
# nodejs and npm packages do (scripts/deps.sh ui installs them).
set -euo pipefail
cd "$(dirname "$0")/../api/ui"

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
	{ echo "ui.sh: node and npm are needed (Node.js 18 or later): run scripts/deps.sh ui" >&2; exit 1; }
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' ||
	{ echo "ui.sh: Node.js $(node --version) is too old: Vite 6 needs 18 or later" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error
npm run build
