package harness

import (
	"context"
	"fmt"

	"github.com/kmsharness/kmsharness/cloudhsm"
	"github.com/kmsharness/kmsharness/softhsm/hsmclient"
)

// appliance reaches HSM nodes as CloudHSM's appliance user, over the node
// protocol. It implements cloudhsm.Appliance.
type appliance struct{}

func (appliance) session(ctx context.Context, h cloudhsm.HSMAccess, login bool) (*hsmclient.Conn, error) {
	anchors, err := hsmclient.ParseTrustAnchors(h.TrustAnchorPEM)
	if err != nil {
		return nil, err
	}
	c, err := hsmclient.Dial(ctx, h.Address, h.HSMID, anchors)
	if err != nil {
		return nil, err
	}
	if login {
		if err := c.Login(ctx, h.ApplianceUser, h.AppliancePassword); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("appliance login on %s: %w", h.HSMID, err)
		}
	}
	return c, nil
}

func (a appliance) Backup(ctx context.Context, h cloudhsm.HSMAccess) ([]byte, error) {
	c, err := a.session(ctx, h, true)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Backup(ctx)
}

func (a appliance) Restore(ctx context.Context, h cloudhsm.HSMAccess, image []byte) error {
	c, err := a.session(ctx, h, true)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Restore(ctx, image)
}

func (a appliance) Activated(ctx context.Context, h cloudhsm.HSMAccess) (bool, error) {
	c, err := a.session(ctx, h, false)
	if err != nil {
		return false, err
	}
	defer c.Close()
	info, err := c.Info(ctx)
	return info.Activated, err
}
