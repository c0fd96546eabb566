//go:build !linux

package command

// sweep finds a program's descendants through /proc, which only Linux has:
// elsewhere the process-group kill is all.
func sweep(marker string) {}
