# Fuzzing create's input (docs/testing.md): config.json + annotations + a TOML profile through
# the pure steps of create (FuzzCreatePlan in spec/fuzz_test.go). Bounded; not part of
# `make test` (the committed seed corpus runs in `make unit` as ordinary tests).
#   make fuzz                        60s on one worker (the host is shared)
#   make fuzz FUZZTIME=10m FUZZPAR=2
# -fuzzminimizetime is a count: minimizing each new input for seconds would stall the run.
.PHONY: fuzz
fuzz:
	@set -o pipefail; log=$$(mktemp); \
	$(GO) test -run '^$$' -fuzz '^FuzzCreatePlan$$' -fuzztime $(or $(FUZZTIME),60s) \
	  -fuzzminimizetime 50x -parallel $(or $(FUZZPAR),1) ./spec/ 2>&1 | tee $$log; rc=$$?; \
	last=$$(grep -E '^fuzz: elapsed' $$log | tail -1); rm -f $$log; \
	echo "make fuzz: $${last#fuzz: }"; \
	if [ $$rc -ne 0 ]; then echo "make fuzz: FAILED (the failing input is under spec/testdata/fuzz/FuzzCreatePlan)"; fi; \
	exit $$rc
