#!/usr/bin/env bash
# Makes TypeScript types from the OpenAPI document with openapi-typescript and
# type-checks check.ts against them, with the versions package-lock.json pins,
# installed into a temporary directory. Needs Node.js and the npm registry:
# without them it fails, it never skips.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
document="$here/../../transport/httpapi/openapi.json"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$here/tsconfig.json" "$here/check.ts" "$work/"
cd "$work"
npm ci --no-audit --no-fund --loglevel=error
npx --no-install openapi-typescript "$document" --output invitesvc.d.ts
npx --no-install tsc --project tsconfig.json
echo "typescript: openapi-typescript's types of $(basename "$document") compile with check.ts"
