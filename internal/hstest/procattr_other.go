//go:build !linux

package hstest

import "os/exec"

// setProcAttr has nothing to add outside Linux: there is no parent-death signal.
func setProcAttr(cmd *exec.Cmd) {}
