package node

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/meshrpc/meshrpc/rpc"
)

// Funcs are plain Go functions to offer by name, as rpc.RegisterFunc takes
// them: func(k string) any, func(ctx context.Context, a, b int) (int, error).
type Funcs map[string]any

// ServeFuncs is the shortest way to offer functions on the tailnet: it
// starts a node (New), registers each function of funcs under its name
// (rpc.RegisterFunc: params by position), and serves until ctx ends or the
// process is told to stop (SIGINT, SIGTERM). Like the seed's BaseManager,
// it runs one call at a time, so the functions may share state without a
// lock; for procedures that run concurrently, use New and rpc.Register.
// Like http.ListenAndServe it always returns an error, saying why it
// stopped (the signal, say):
//
//	obj := map[string]any{}
//	log.Fatal(node.ServeFuncs(ctx, node.Config{Hostname: "home"}, node.Funcs{
//		"get": func(k string) any { return obj[k] },
//		"put": func(k string, v any) { obj[k] = v },
//	}))
func ServeFuncs(ctx context.Context, cfg Config, funcs Funcs) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	turn := make(chan struct{}, 1) // one call at a time
	names := make([]string, 0, len(funcs))
	for name, fn := range funcs {
		p := rpc.RegisterFunc(n.Registry(), name, fn)
		h := p.Handler
		p.Handler = rpc.HandlerFunc(func(ctx context.Context, params json.RawMessage) (any, error) {
			select {
			case turn <- struct{}{}:
				defer func() { <-turn }()
				return h.ServeRPC(ctx, params)
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
		names = append(names, name)
	}
	slices.Sort(names)
	fmt.Fprintf(n.progress(), "meshrpc: %s serves %s on %s\n", n.Name(), strings.Join(names, ", "), n.Addr())
	if err := n.Serve(ctx); err != nil {
		return err
	}
	return fmt.Errorf("node: %s stopped: %w", n.Name(), context.Cause(ctx))
}
