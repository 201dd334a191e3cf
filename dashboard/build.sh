#!/usr/bin/env bash
# Copy Chart.js's distributed, minified file (its license header included) into the package's
# static folder, where `GET /dashboard/static/chart.umd.min.js` serves it. The copy is committed,
# so `pip install` alone serves a working dashboard; run this after changing chart.js's version.
set -euo pipefail
cd "$(dirname "$0")"
[ -d node_modules/chart.js ] || npm ci --no-audit --no-fund
# The source map is not shipped: drop the comment that points at it.
sed '/^\/\/# sourceMappingURL=/d' node_modules/chart.js/dist/chart.umd.min.js \
  > ../src/metered/dashboard/static/chart.umd.min.js
echo "copied chart.js $(node -p "require('./node_modules/chart.js/package.json').version")"
