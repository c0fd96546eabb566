package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"

	"github.com/meshrpc/meshrpc/store"
)

// Backup asks the meshrpc serve whose state is in stateDir (default: the
// default state directory) to write a consistent copy of its store to path,
// a file on this machine, while it goes on serving: `meshrpc store backup`.
// It goes through the node's local socket, so only its OS user may.
func Backup(ctx context.Context, stateDir, path string) (store.BackupInfo, error) {
	var info store.BackupInfo
	_, stateDir, err := resolveIdentity("", stateDir)
	if err != nil {
		return info, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return info, err
	}
	sock := socketTailnet(filepath.Join(stateDir, SocketName))
	hc := sock.httpClient()
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://local/backup?path="+url.QueryEscape(abs), nil)
	resp, err := hc.Do(req)
	if err != nil {
		return info, fmt.Errorf("node: backup: no meshrpc serve answers on %s (a backup is made by the serving node; is it running with --state-dir %s?): %w", sock, stateDir, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return info, fmt.Errorf("node: backup: %s", trimSpace(msg))
	}
	return info, json.NewDecoder(resp.Body).Decode(&info)
}

// serveBackup answers POST /backup?path=FILE on the local socket.
func (s *socketServer) serveBackup(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if !filepath.IsAbs(path) {
		http.Error(w, "backup needs ?path=ABSOLUTE_FILE", http.StatusBadRequest)
		return
	}
	info, err := s.node.store.Backup(path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(info)
}
