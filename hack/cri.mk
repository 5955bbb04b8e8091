# Kubernetes CRI path (docs/kubernetes.md): a private containerd with the CRI plugin and the
# runtime handler `sandlock`, driven by crictl (built from the Go module proxy, cached in /tmp).
#   make cri-test      builds crictl if needed, then runs integration TestCRI
# `make test` sets SANDLOCK_CRI=1: TestCRI builds crictl once (about 3 minutes) and caches it.
.PHONY: cri-test crictl
crictl:
	hack/cri-crictl.sh

cri-test: build crictl
	SANDLOCK_CRI=1 SANDLOCK_RUNTIME=$(CURDIR)/$(BIN) $(GO) test -count=1 -v -timeout 10m -run 'TestCRI' ./integration/...
