#!/usr/bin/env bash
# ui.sh builds the web UI: npm ci (exactly the versions in
# api/ui/package-lock.json) and vite build into api/ui/dist/app, which the
# api package embeds. It needs Node.js 20.19 or later and npm (Vite's
# minimum; Debian 12's own nodejs is older, so it is not installed here).
set -euo pipefail
cd "$(dirname "$0")/../api/ui"

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
	{ echo "ui.sh: node and npm are needed (Node.js 20.19 or later)" >&2; exit 1; }
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
	{ echo "ui.sh: Node.js $(node --version) is too old: Vite needs 20.19 or later" >&2; exit 1; }
npm ci --no-audit --no-fund --loglevel=error
npm run build
