package lab

import "os"

// TUNOffloadEnv names the environment variable that sets xtr.tun_offload
// ("auto" or "off") for every xTR the lab configures unless
// XTRConfig.TUNOffload says otherwise, so that the whole e2e suite runs on
// either TUN path: LISPD_TUN_OFFLOAD=off go test ./testing/e2e/.
const TUNOffloadEnv = "LISPD_TUN_OFFLOAD"

// TUNOffloadMode returns the xtr.tun_offload value c asks for: c.TUNOffload,
// else $LISPD_TUN_OFFLOAD, else "" (the daemon's default, "auto").
func (c XTRConfig) TUNOffloadMode() string {
	if c.TUNOffload != "" {
		return c.TUNOffload
	}
	return os.Getenv(TUNOffloadEnv)
}
