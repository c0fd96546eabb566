// Command meshrpc calls and serves named procedures on a private tailnet.
//
// See docs/cli.md, or run `meshrpc help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/meshrpc/meshrpc/rpc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rpc.Version = version() // what sys.info and rpc.discover report
	err := newCmdRoot().ExecuteContext(ctx)
	if err != nil && err.Error() != "" {
		fmt.Fprintln(os.Stderr, "meshrpc:", escape(err.Error())) // a peer's error message is its own text
	}
	os.Exit(exitCode(err))
}
