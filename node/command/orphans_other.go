//go:build !linux

package command

import "errors"

// AdoptOrphans needs Linux's PR_SET_CHILD_SUBREAPER: elsewhere it returns
// errors.ErrUnsupported, and the process-group kill is all.
func AdoptOrphans() error { return errors.ErrUnsupported }

func killOrphans() {}
