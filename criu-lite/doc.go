// Package criulite will hold checkpoint and restore (a later issue). It is empty until then.
package criulite
