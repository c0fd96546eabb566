package node

import (
	"context"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/meshrpc/meshrpc/rpc"
)

// Uname is uname(2) of the node's machine.
type Uname struct {
	Sysname  string `json:"sysname"`
	Nodename string `json:"nodename"`
	Release  string `json:"release"`
	Version  string `json:"version"`
	Machine  string `json:"machine"`
}

// Info describes the node and its machine.
type Info struct {
	Node          string  `json:"node"`
	Host          string  `json:"host"`
	OS            string  `json:"os"`
	Arch          string  `json:"arch"`
	Version       string  `json:"version"` // meshrpc's
	GoVersion     string  `json:"go_version"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	Methods       int     `json:"methods"`
	// StoreOffline is why the store went offline (kv.* then answer
	// -32005); absent while it serves.
	StoreOffline string `json:"store_offline,omitempty"`
}

// NoParams is the params of a procedure that takes none.
type NoParams struct{}

func registerSys(r *rpc.Registry, n *Node) {
	rpc.Register(r, "sys.ping", "Answers \"pong\": is the node there?", func(ctx context.Context, _ NoParams) (string, error) {
		return "pong", nil
	}).ReadOnly = true
	rpc.Register(r, "sys.uname", "uname(2) of the node's machine: sysname, nodename, release, version, machine.", func(ctx context.Context, _ NoParams) (Uname, error) {
		return MachineUname()
	}).ReadOnly = true
	rpc.Register(r, "sys.info", "The node's host, OS, meshrpc version, uptime and method count.", func(ctx context.Context, _ NoParams) (Info, error) {
		host, _ := os.Hostname()
		var offline string
		if err := n.store.Fault(); err != nil {
			offline = err.Error()
		}
		return Info{
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
	rpc.Register(r, "sys.whoami", "The caller as this node sees it: node, login, tags, capabilities.", func(ctx context.Context, _ NoParams) (rpc.Caller, error) {
		c, _ := rpc.CallerFrom(ctx)
		return c, nil
	}).ReadOnly = true
}

// MachineUname is uname(2) of this machine, as sys.uname answers it.
func MachineUname() (Uname, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return Uname{}, err
	}
	return Uname{
		Sysname:  unix.ByteSliceToString(u.Sysname[:]),
		Nodename: unix.ByteSliceToString(u.Nodename[:]),
		Release:  unix.ByteSliceToString(u.Release[:]),
		Version:  unix.ByteSliceToString(u.Version[:]),
		Machine:  unix.ByteSliceToString(u.Machine[:]),
	}, nil
}
