package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/store"
)

type storeOptions struct {
	*globalOptions
	json   bool
	repair bool
}

func newCmdStore(g *globalOptions) *cobra.Command {
	opts := &storeOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Back up, check and restore the store of a meshrpc serve on this machine",
		Long: `Work on the store's data file on this machine (docs/reliability.md).

backup asks the meshrpc serve of --state-dir, through its local socket, for a
consistent copy of its live store; it keeps serving. check reads every page
of a data file that no node holds; with --repair, it copies every key it can
read from a damaged one into FILE.repaired. restore makes a data file a
checked copy of a backup (or of FILE.repaired), keeping the file it replaces
as FILE.old; stop the node first.`,
		Example: `  meshrpc store backup ~/backups/kv-$(date +%F).db
  meshrpc store check ~/backups/kv-2026-12-02.db
  meshrpc store check --repair ~/.config/meshrpc/default/kv.db
  meshrpc store restore ~/backups/kv-2026-12-02.db ~/.config/meshrpc/default/kv.db`,
		Args: exactArgs(0),
	}
	backup := &cobra.Command{
		Use:     "backup FILE",
		Short:   "Copy the live store of the serving node to FILE",
		Example: `  meshrpc store backup /var/backups/meshrpc/kv.db`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStoreBackup(cmd.Context(), opts, args[0])
		},
	}
	backup.Flags().BoolVar(&opts.json, "json", false, "print one JSON document")
	check := newCmdStoreCheck(opts)
	restore := &cobra.Command{
		Use:     "restore BACKUP FILE",
		Short:   "Make the data file FILE a checked copy of BACKUP (the node stopped)",
		Example: `  meshrpc store restore /var/backups/meshrpc/kv.db ~/.config/meshrpc/default/kv.db`,
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := store.Restore(args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(opts.stdout, "restored %s from %s\n", args[1], args[0])
			return nil
		},
	}
	cmd.AddCommand(backup, check, restore)
	return cmd
}

// newCmdStoreCheck is `meshrpc store check [--repair] FILE`.
func newCmdStoreCheck(opts *storeOptions) *cobra.Command {
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Check every page of a data file (not one a node is serving); --repair salvages a damaged one",
		Long: `Check every page of a data file that no node holds: exit 0 when it is
sound, 1 with the damage when not.

With --repair, a damaged file's readable keys are copied into a new store,
FILE.repaired (which must not exist), and FILE is left as it is. It reads
the file page by page, so a damaged page costs only the keys on it; a key
whose page is lost comes back from the change log when that still holds
its latest change. It says how many keys were saved and lost; then put the
new file in place with "meshrpc store restore FILE.repaired FILE" (the
node stopped). Exit 0 when the new file is written.`,
		Example: `  meshrpc store check /var/backups/meshrpc/kv.db
  meshrpc store check --repair ~/.config/meshrpc/default/kv.db`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStoreCheck(opts, args[0])
		},
	}
	check.Flags().BoolVar(&opts.repair, "repair", false, "copy the readable keys of a damaged file into FILE.repaired")
	check.Flags().BoolVar(&opts.json, "json", false, "print one JSON document")
	return check
}

func runStoreBackup(ctx context.Context, opts *storeOptions, file string) error {
	info, err := node.Backup(ctx, opts.stateDir, file)
	if err != nil {
		return unreachableError{err}
	}
	if opts.json {
		return printJSON(opts.stdout, info)
	}
	fmt.Fprintf(opts.stdout, "backed up to %s: %d bytes, revision %d\n", filepath.Clean(info.Path), info.Bytes, info.Rev)
	return nil
}
