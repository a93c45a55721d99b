package cloudhsm

import "context"

// HSMSpec is everything a backend needs to start one HSM node.
type HSMSpec struct {
	ClusterID string
	HSMID     string
	// AvailabilityZone, SubnetID and IP place the HSM in the emulated VPC;
	// a container backend may use them for its networks.
	AvailabilityZone string
	SubnetID         string
	IP               string
	// ClusterSecret is the 32-byte secret from which every HSM of the
	// cluster lineage derives its wrapping and sealing keys.
	ClusterSecret []byte
	// Users are the HSM's initial users (the pre-crypto officer on a new
	// cluster's first HSM; otherwise only the appliance user).
	Users []InitialUser
	// TLSKeyPEM and TLSChainPEM are the node's TLS key and certificate
	// chain (node certificate, then the cluster certificate if any).
	TLSKeyPEM   []byte
	TLSChainPEM []byte
}

// InitialUser is a user an HSM starts with. Role is PRECO, CO, CU or AU.
type InitialUser struct {
	Name     string
	Role     string
	Password string
}

// HSMBackend runs HSM nodes: as local processes, containers, or anything
// else that serves the node protocol.
type HSMBackend interface {
	// StartHSM starts the node and returns its address once it accepts
	// connections.
	StartHSM(ctx context.Context, spec HSMSpec) (address string, err error)
	// ResumeHSM starts again, from its kept data, a node a previous run
	// started (the control plane restored from its state file), and returns
	// its new address.
	ResumeHSM(ctx context.Context, hsmID string) (address string, err error)
	// StopHSM stops the node and deletes its data.
	StopHSM(ctx context.Context, hsmID string) error
	// UpdateTLS replaces the node's certificate chain (once the cluster is
	// initialised, the chain gains the cluster certificate).
	UpdateTLS(ctx context.Context, hsmID string, chainPEM []byte) error
}

// HSMAccess says how to reach a running HSM as the appliance user.
type HSMAccess struct {
	HSMID   string
	Address string
	// TrustAnchorPEM verifies the node's certificate.
	TrustAnchorPEM []byte
	// ApplianceUser and AppliancePassword log in as the appliance user.
	ApplianceUser     string
	AppliancePassword string
}

// Appliance talks to running HSMs the way CloudHSM's own management plane
// does: to back them up, restore backups onto new HSMs and see whether the
// cluster was activated.
type Appliance interface {
	Backup(ctx context.Context, hsm HSMAccess) ([]byte, error)
	Restore(ctx context.Context, hsm HSMAccess, image []byte) error
	Activated(ctx context.Context, hsm HSMAccess) (bool, error)
}
