#!/bin/bash
# Builds crictl (sigs.k8s.io/cri-tools) from the Go module proxy, cached, and prints its path.
#
#   hack/cri-crictl.sh             -> ${CRICTL_CACHE:-${TMPDIR:-/tmp}/sandlock-cri-cache}/crictl-$VERSION/crictl
#   CRICTL_VERSION=v1.34.0         the cri-tools release (it must build with the Go in PATH)
#
# `go install sigs.k8s.io/cri-tools/cmd/crictl@VERSION` does not work through a proxy that answers
# 403 (not 404) for the path cmd/crictl probed as a module, so crictl is built from a throwaway
# module that requires cri-tools. CRI v1 only: containerd 1.6 serves it.
# Used by `make cri-test` and by integration/cri_test.go (with SANDLOCK_CRI=1).
set -euo pipefail
VERSION=${CRICTL_VERSION:-v1.34.0}
CACHE=${CRICTL_CACHE:-${TMPDIR:-/tmp}/sandlock-cri-cache}
OUT=$CACHE/crictl-$VERSION
if [ -x "$OUT/crictl" ]; then echo "$OUT/crictl"; exit 0; fi
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
MOD=$OUT/mod
rm -rf "$MOD"; mkdir -p "$MOD"
cat > "$MOD/go.mod" <<MOD
module crictlbuild

go 1.24

require sigs.k8s.io/cri-tools $VERSION
MOD
cat > "$MOD/tools.go" <<'GO'
//go:build tools

package tools

import _ "sigs.k8s.io/cri-tools/cmd/crictl"
GO
(cd "$MOD" && GOFLAGS=-mod=mod "$GO" mod tidy >&2 &&
  CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-X sigs.k8s.io/cri-tools/pkg/version.Version=$VERSION" -o "$OUT/crictl.tmp" sigs.k8s.io/cri-tools/cmd/crictl >&2)
mv "$OUT/crictl.tmp" "$OUT/crictl"
echo "$OUT/crictl"
