package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/meshrpc/meshrpc/rpc"
)

// version is this build's version: the module version `go install` gave
// it (or rpc.Version when set at link time), then the commit it was built
// from, as the Go toolchain recorded them.
func version() string {
	v := rpc.Version
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if v == "devel" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	var commit, when, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ", modified"
			}
		}
	}
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if commit != "" {
		v += fmt.Sprintf(" (commit %s, %s%s)", commit, when, dirty)
	}
	return v
}

func newCmdVersion(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print meshrpc's version and the commit it was built from",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(g.stdout, "meshrpc %s %s/%s %s\n", version(), runtime.GOOS, runtime.GOARCH, runtime.Version())
			return nil
		},
	}
}
