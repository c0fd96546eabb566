// Package realtailnet runs real tailnet software next to a test: a Headscale
// control server (github.com/juanfont/headscale) and Tailscale's own daemon
// and CLI (tailscaled, tailscale), all on 127.0.0.1, each in the test's
// temporary directory and stopped by t.Cleanup.
//
// Its tests prove that meshrpc works on a tailnet that is not the in-process
// devnet: mesh.Join and the meshrpc binary against Headscale, and a plain
// Tailscale client with no meshrpc code (tailscaled's SOCKS5 proxy and curl)
// calling a node.
//
// It is for tests only. The binaries are not dependencies of meshrpc: they
// are built from the separate tools module in .ci/tools, whose paths .ci/run
// exports as MESHRPC_HEADSCALE, MESHRPC_TAILSCALED and MESHRPC_TAILSCALE (see
// [Binary]). Without them, and when they cannot be built, tests skip.
package realtailnet
