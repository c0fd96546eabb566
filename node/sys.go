package node

import (
	"context"
	"github.com/meshrpc/meshrpc/node/api"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshrpc/meshrpc/rpc"
)

func registerSys(r *rpc.Registry, n *Node) {
	rpc.Register(r, "sys.ping", "Answers \"pong\": is the node there?", func(ctx context.Context, _ api.NoParams) (string, error) {
		return "pong", nil
	}).ReadOnly = true
	rpc.Register(r, "sys.uname", "uname(2) of the node's machine: sysname, nodename, release, version, machine.", func(ctx context.Context, _ api.NoParams) (api.Uname, error) {
		return MachineUname()
	}).ReadOnly = true
	rpc.Register(r, "sys.info", "The node's host, OS, meshrpc version, uptime and method count.", func(ctx context.Context, _ api.NoParams) (api.Info, error) {
		host, _ := os.Hostname()
		var offline string
		if err := n.store.Fault(); err != nil {
			offline = err.Error()
		}
		return api.Info{
			StoreOffline:  offline,
			Node:          n.Name(),
			Host:          host,
			OS:            runtime.GOOS,
			Arch:          runtime.GOARCH,
			Version:       rpc.Version,
			GoVersion:     runtime.Version(),
			UptimeSeconds: time.Since(n.started).Seconds(),
			Methods:       len(r.Procedures()),
		}, nil
	}).ReadOnly = true
	rpc.Register(r, "sys.whoami", "The caller as this node sees it: node, login, tags, capabilities.", func(ctx context.Context, _ api.NoParams) (rpc.Caller, error) {
		c, _ := rpc.CallerFrom(ctx)
		return c, nil
	}).ReadOnly = true
}

// MachineUname is uname(2) of this machine, as sys.uname answers it.
func MachineUname() (api.Uname, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return api.Uname{}, err
	}
	return api.Uname{
		Sysname:  unix.ByteSliceToString(u.Sysname[:]),
		Nodename: unix.ByteSliceToString(u.Nodename[:]),
		Release:  unix.ByteSliceToString(u.Release[:]),
		Version:  unix.ByteSliceToString(u.Version[:]),
		Machine:  unix.ByteSliceToString(u.Machine[:]),
	}, nil
}
