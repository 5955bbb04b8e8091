//go:build !amd64

package notifsup

// vdsoHandlers: the vDSO is rewritten on x86_64 only; elsewhere time_start is not offered
// (lifecycle refuses it), since the vDSO would read the host's clock.
func vdsoHandlers(_ *timeShift) map[string]Handler { return nil }

// VDSOPatched reports whether this build rewrites the vDSO's clock functions.
const VDSOPatched = false
