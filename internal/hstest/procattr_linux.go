package hstest

import (
	"os/exec"
	"syscall"
)

// setProcAttr asks the kernel to kill the child if the test binary dies without cleaning up
// (a test timeout panic, SIGKILL), so no homeserver outlives its tests.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
