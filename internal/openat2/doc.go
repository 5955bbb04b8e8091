// Package openat2 wraps openat2(2) with the retry the kernel asks for on a busy host.
package openat2
