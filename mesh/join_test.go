package mesh_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
)

func TestJoinFailsWhenControlDoesNotAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now

	_, err = mesh.Join(context.Background(), mesh.Config{
		Hostname:       "lost",
		StateDir:       filepath.Join(t.TempDir(), "lost"),
		ControlURL:     url,
		Progress:       io.Discard,
		ControlTimeout: 3 * time.Second,
	})
	if err == nil || !strings.Contains(err.Error(), "no answer from the control server "+url) {
		t.Fatalf("Join with a dead control URL: err = %v; want one naming %s", err, url)
	}
}

func TestJoinFailsWithARejectedAuthKey(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{AuthKey: "tskey-right"})
	cfg := meshtest.Config(t, dn, mesh.Config{Hostname: "intruder", AuthKey: "tskey-wrong"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := mesh.Join(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "refused this node") || strings.Contains(err.Error(), "tskey-wrong") {
		t.Fatalf("Join with a wrong auth key: err = %v; want a refusal that does not show the key", err)
	}

	cfg = meshtest.Config(t, dn, mesh.Config{Hostname: "friend", AuthKey: "tskey-right"})
	n, err := mesh.Join(ctx, cfg)
	if err != nil {
		t.Fatalf("Join with the right auth key: %v", err)
	}
	n.Close()
}

func TestJoinShowsTheLoginURLAndWaits(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{InteractiveLogin: true})
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "http") {
				dn.CompleteLogin(line)
			}
		}
	}()
	cfg := meshtest.Config(t, dn, mesh.Config{Hostname: "laptop", Progress: pw})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := mesh.Join(ctx, cfg)
	if err != nil {
		t.Fatalf("interactive Join: %v", err)
	}
	n.Close()
}
