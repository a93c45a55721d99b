package harness

import (
	"context"
	"path/filepath"

	"github.com/kmsharness/kmsharness/cloudhsm"
	"github.com/kmsharness/kmsharness/harness/containerbackend"
	"github.com/kmsharness/kmsharness/harness/processbackend"
)

// NodeControl acts on the HSM nodes, whatever runs them: what node faults
// use.
type NodeControl interface {
	// Kill ends a node at once (a crashed HSM), keeping its data.
	Kill(hsmID string) error
	// Pause freezes a node (a hung HSM); Resume thaws it.
	Pause(hsmID string) error
	Resume(hsmID string) error
	// Restart starts a node again from its data and returns its address.
	Restart(ctx context.Context, hsmID string) (string, error)
	// Running reports whether a node runs.
	Running(hsmID string) bool
}

// nodeBackend runs nodes for the control plane and controls them.
type nodeBackend interface {
	cloudhsm.HSMBackend
	NodeControl
	Close(ctx context.Context) error
}

// newNodeBackend makes the backend the options ask for.
func (h *Harness) newNodeBackend(ctx context.Context) (nodeBackend, error) {
	root := filepath.Join(h.dir, "hsms")
	if h.opts.backend == BackendContainer {
		if _, err := containerbackend.RemoveLeftovers(ctx); err != nil {
			h.log.Warn("removing containers of crashed runs failed", "err", err)
		}
		return containerbackend.New(ctx, containerbackend.Config{Image: h.opts.image, Root: root,
			LockoutThreshold: h.opts.lockoutThreshold, Logger: h.log})
	}
	library := h.opts.softhsmLibrary
	if library == "" {
		var err error
		if library, err = processbackend.FindSoftHSMLibrary(); err != nil {
			return nil, err
		}
	}
	binary := h.opts.hsmnodeBinary
	if binary == "" {
		var err error
		if binary, err = processbackend.FindBinary(h.log); err != nil {
			return nil, err
		}
	}
	return processbackend.New(processbackend.Config{Binary: binary, Root: root, SoftHSMLibrary: library,
		LockoutThreshold: h.opts.lockoutThreshold, NoSync: h.opts.dataDir == "", Logger: h.log})
}
