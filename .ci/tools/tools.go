//go:build tools

// Package tools pins the real tailnet software the integration tests in
// mesh/realtailnet run against: Headscale (a self-hosted control server) and
// Tailscale's own daemon and CLI, at the version meshrpc itself uses.
//
// It is a module of its own so that Headscale's many dependencies never enter
// meshrpc's go.mod. .ci/run builds the binaries from here:
//
//	cd .ci/tools && go build -o "$bin/headscale" github.com/juanfont/headscale/cmd/headscale
package tools

import (
	_ "github.com/juanfont/headscale/cmd/headscale"
	_ "tailscale.com/cmd/tailscale"
	_ "tailscale.com/cmd/tailscaled"
)
