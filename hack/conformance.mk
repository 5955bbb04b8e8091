# runtime-tools validation (docs/conformance.md): every test against bin/sandlock-runtime, runc, crun.
#   make conformance                      all tests, all three runtimes, side-by-side table
#   make conformance TESTS="create kill" RUNTIMES=sandlock
.PHONY: conformance
conformance: build
	TESTS="$(TESTS)" RUNTIMES="$(or $(RUNTIMES),sandlock runc crun)" \
	  SANDLOCK_RUNTIME=$(CURDIR)/$(BIN) hack/conformance.sh
