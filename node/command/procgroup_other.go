//go:build !unix

package command

import (
	"os"
	"os/exec"
)

// Without process groups a timeout kills the program itself only.
func ownProcessGroup(cmd *exec.Cmd) {}

func killProcessGroup(cmd *exec.Cmd) {}

func signalOf(ps *os.ProcessState) string { return "" }
