package hstest

import (
	"os/exec"
	"syscall"
)

// BindToParent asks the kernel to kill cmd's process if the test binary dies without cleaning
// up (a test timeout panic, SIGKILL), so no homeserver or bridge outlives its tests. Call it
// before cmd.Start; it replaces cmd.SysProcAttr.
func BindToParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
