// Package cowfs will hold the copy-on-write workdir (a later issue). It is empty until then.
package cowfs
