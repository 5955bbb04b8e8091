# Soak and crash faults (docs/testing.md): not part of `make test`; root only; prints its figures.
#   make soak                              1000 cycles, 10 in parallel, 100 create crashes, 10 supervisor kills
#   make soak CYCLES=50 CRASHES=30 SUPKILLS=3
.PHONY: soak
soak: build
	$(GO) build -o bin/soak ./hack/soak
	bin/soak -bin $(BIN) -cycles $(or $(CYCLES),1000) -parallel $(or $(PARALLEL),10) \
	  -crashes $(or $(CRASHES),100) -supervisor-kills $(or $(SUPKILLS),10)
