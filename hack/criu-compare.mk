# criu-compare: the issue-14 workloads checkpointed and restored by CRIU 4.1.1 (runc --criu,
# built once into $TMPDIR/sandlock-criu) and by this runtime's checkpoint/restore verbs,
# side by side (docs/checkpoint-criu.md). Root; needs runc, gcc (static libc), jq.
# OUT=dir keeps results.tsv/results.md there; ONLY="counter redis" runs a subset.
.PHONY: criu-compare
criu-compare: build
	SANDLOCK_RUNTIME=$${SANDLOCK_RUNTIME:-$(CURDIR)/$(BIN)} hack/criu-compare.sh
