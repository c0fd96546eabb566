package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/meshrpc/meshrpc/store"
)

// storeCheck is `meshrpc store check --json`'s document.
type storeCheck struct {
	File     string             `json:"file"`
	Sound    bool               `json:"sound"`
	Damage   string             `json:"damage,omitempty"`
	Repaired *store.SalvageInfo `json:"repaired,omitempty"`
}

func runStoreCheck(opts *storeOptions, file string) error {
	res := storeCheck{File: file}
	err := store.Check(file)
	switch {
	case err == nil:
		res.Sound = true
	case !errors.Is(err, store.ErrDamaged):
		return err
	case !opts.repair && opts.json:
		res.Damage = err.Error()
		printJSON(opts.stdout, res)
		return silentError{exitCallError}
	case !opts.repair:
		return err
	default:
		res.Damage = err.Error()
		info, serr := store.Salvage(file, "")
		if serr != nil {
			return fmt.Errorf("%w\n%w", err, serr)
		}
		res.Repaired = &info
	}
	if opts.json {
		return printJSON(opts.stdout, res)
	}
	switch {
	case res.Sound && opts.repair:
		fmt.Fprintf(opts.stdout, "%s: sound; nothing to repair\n", file)
	case res.Sound:
		fmt.Fprintf(opts.stdout, "%s: sound\n", file)
	default:
		fmt.Fprintf(opts.stderr, "meshrpc: %s\n", res.Damage)
		printSalvage(opts.stdout, file, *res.Repaired)
	}
	return nil
}

// printSalvage says what a salvage saved and lost, and what to do next.
func printSalvage(w io.Writer, file string, info store.SalvageInfo) {
	fmt.Fprintf(w, "saved %d keys into %s", info.Keys, info.Path)
	if info.FromLog > 0 {
		fmt.Fprintf(w, " (%d of them from the change log, their own pages damaged)", info.FromLog)
	}
	fmt.Fprintf(w, "\nlost %d keys on damaged pages", info.Lost)
	if info.UnreadablePages > 0 {
		fmt.Fprintf(w, "; %d pages could not be read at all, and their keys are lost with them (how many is unknown)", info.UnreadablePages)
		if info.FromLog > 0 {
			fmt.Fprint(w, " but for those the change log gave back")
		}
	}
	fmt.Fprintln(w)
	if info.Guessed {
		fmt.Fprintln(w, "the file's record of its pages in use was damaged: the keys come from every page that holds one, the newest of each; a key deleted before may be back")
	}
	if len(info.Damage) > 0 {
		fmt.Fprintln(w, "damage found:")
		for _, d := range info.Damage {
			fmt.Fprintf(w, "  %s\n", d)
		}
	}
	fmt.Fprintf(w, "the new store is at revision %d with an empty change log (watchers re-list)\n", info.Rev)
	fmt.Fprintf(w, "next: stop the node, then put it in place (%s is kept as %s.old):\n  meshrpc store restore %s %s\n", file, file, info.Path, file)
}
