// Package sandbox will be the Go API mirroring the sandlock SDK (the confinement issue).
package sandbox
