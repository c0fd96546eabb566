package rpc

// Version is the build's version, reported in rpc.discover's info and by
// `meshrpc version`. Builds may set it with
// -ldflags "-X github.com/meshrpc/meshrpc/rpc.Version=v1.2.3".
var Version = "devel"
