package sandbox

import (
	"fmt"

	"github.com/sandlock/sandlock-runtime/confine"
)

// minLandlockABI is the Landlock ABI sandlock requires (scoped signals and abstract sockets).
const minLandlockABI = 6

// LandlockABIVersion returns the Landlock ABI version of the running kernel, -1 if Landlock
// is unavailable (as sandlock.landlock_abi_version()).
func LandlockABIVersion() int { return confine.LandlockABI() }

// MinLandlockABI returns the minimum Landlock ABI version sandlock requires (6), as
// sandlock.min_landlock_abi().
func MinLandlockABI() int { return minLandlockABI }

// checkLandlock refuses to start a sandbox on a kernel without the ABI it needs.
func checkLandlock() error {
	abi := LandlockABIVersion()
	if abi >= minLandlockABI {
		return nil
	}
	return newError(kindLandlock, "start", &abiError{have: abi})
}

type abiError struct{ have int }

func (e *abiError) Error() string {
	if e.have < 0 {
		return "Landlock is not available on this kernel (CONFIG_SECURITY_LANDLOCK, lsm=landlock); sandlock needs ABI " + fmt.Sprint(minLandlockABI)
	}
	return fmt.Sprintf("Landlock ABI %d is too old; sandlock needs ABI %d (Linux 6.7)", e.have, minLandlockABI)
}
