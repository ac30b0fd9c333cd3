//go:build !linux

package hstest

import "os/exec"

// BindToParent has nothing to add outside Linux: there is no parent-death signal.
func BindToParent(cmd *exec.Cmd) {}
