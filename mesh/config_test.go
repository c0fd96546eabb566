package mesh_test

import (
	"testing"

	"github.com/meshrpc/meshrpc/mesh"
)

// Empty fields come from the CLI's environment variables; set ones win.
func TestConfigFromEnvironment(t *testing.T) {
	t.Setenv(mesh.EnvHostname, "envhost")
	t.Setenv(mesh.EnvStateDir, "/env/state")
	t.Setenv(mesh.EnvControlURL, "http://127.0.0.1:9911")
	got := mesh.Config{Hostname: "given"}.FromEnvironment()
	if got.Hostname != "given" || got.StateDir != "/env/state" || got.ControlURL != "http://127.0.0.1:9911" {
		t.Fatalf("FromEnvironment = %+v", got)
	}
}
