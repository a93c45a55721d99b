package faults

import (
	"context"
	"errors"
	"fmt"

	"github.com/kmsharness/kmsharness/softhsm/hsmclient"
	"github.com/kmsharness/kmsharness/softhsm/hsmwire"
)

// connectionFaults are the faults behind the ten CloudHSM
// ConnectionErrorCodes, each made by the condition AWS names.
func connectionFaults() []Entry {
	return []Entry{
		{Name: "user-locked-out", Code: "USER_LOCKED_OUT", Description: "five failed kmsuser logins on every HSM lock it; heal: the officer resets its password (reported)", Make: clusterFault(UserLockedOut)},
		{Name: "invalid-credentials", Code: "INVALID_CREDENTIALS", Description: "the officer changes kmsuser's password behind KMS's back; heal reports it for UpdateCustomKeyStore", Make: clusterFault(InvalidCredentials)},
		{Name: "cluster-not-found", Code: "CLUSTER_NOT_FOUND", Description: "the cluster is backed up, its HSMs and then it deleted; heal: a related cluster from the backup (its ID reported)", Make: clusterFault(ClusterNotFound)},
		{Name: "insufficient-cloudhsm-hsms", Code: "INSUFFICIENT_CLOUDHSM_HSMS", Description: "every HSM of the cluster is deleted; heal: two HSMs are created again from the latest backup", Make: clusterFault(InsufficientHSMs)},
		{Name: "network-errors", Code: "NETWORK_ERRORS", Description: "the cluster's HSMs are cut off the network: containers leave their Docker networks, processes get every connection reset; heal reconnects (restarts the containers) or removes the toxic", Make: clusterFault(NetworkErrors)},
		{Name: "internal-error", Code: "INTERNAL_ERROR", Description: "a failpoint in KMS's connect path fails it; heal disarms it", Make: clusterFault(InternalError)},
		{Name: "user-not-found", Code: "USER_NOT_FOUND", Description: "the officer deletes kmsuser on every HSM; heal recreates it with a new password (reported)", Make: clusterFault(UserNotFound)},
		{Name: "user-logged-in", Code: "USER_LOGGED_IN", Description: "another client logs in as kmsuser on every HSM (after the officer set it a new password); heal logs it out and reports that password", Make: clusterFault(UserLoggedIn)},
		{Name: "subnet-not-found", Code: "SUBNET_NOT_FOUND", Description: "a subnet of the cluster is deleted (with containers, its Docker network too); heal: a related cluster from a backup, in new subnets (its ID reported)", Make: clusterFault(SubnetNotFound)},
		{Name: "insufficient-free-addresses-in-subnet", Code: "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET", Description: "every free address of a subnet of the cluster is taken; heal frees them", Make: clusterFault(InsufficientFreeAddresses)},
	}
}

func clusterFault(mk func(clusterID string) Fault) Maker {
	return func(scope Scope) (Fault, error) {
		if err := requireCluster(scope); err != nil {
			return nil, err
		}
		return mk(scope.ClusterID), nil
	}
}

// UserLockedOut locks kmsuser out on every HSM of the cluster by five (the
// HSMs' threshold) failed logins each.
func UserLockedOut(clusterID string) Fault {
	return &fault{name: "user-locked-out", code: "USER_LOCKED_OUT", scope: Scope{ClusterID: clusterID},
		inject: func(ctx context.Context, t Target, scope Scope) (Heal, error) {
			hsms, err := activeHSMs(t, scope.ClusterID)
			if err != nil {
				return nil, err
			}
			for _, h := range hsms {
				if err := lockOut(ctx, t, scope.ClusterID, h.ID); err != nil {
					return nil, err
				}
			}
			return func(ctx context.Context) (Report, error) { return resetKMSUser(ctx, t, scope.ClusterID) }, nil
		}}
}

// lockOut fails kmsuser's login on one HSM until the HSM reports it locked.
func lockOut(ctx context.Context, t Target, clusterID, hsmID string) error {
	conn, err := t.Dial(ctx, clusterID, hsmID)
	if err != nil {
		return err
	}
	defer conn.Close()
	wrong := "wrong-" + newPassword()
	for range 100 {
		err := conn.Login(ctx, KMSUser, wrong)
		switch {
		case errors.Is(err, hsmwire.ErrLockedOut):
			return nil
		case errors.Is(err, hsmwire.ErrAuthFailed):
			continue
		case err == nil:
			return errors.New("a wrong password logged in")
		default:
			return err
		}
	}
	return fmt.Errorf("kmsuser was not locked on %s", hsmID)
}

// InvalidCredentials changes kmsuser's password on the cluster behind KMS's
// back; the heal reports the new password, to pass to UpdateCustomKeyStore.
func InvalidCredentials(clusterID string) Fault {
	return &fault{name: "invalid-credentials", code: "INVALID_CREDENTIALS", scope: Scope{ClusterID: clusterID},
		inject: func(ctx context.Context, t Target, scope Scope) (Heal, error) {
			report, err := resetKMSUser(ctx, t, scope.ClusterID)
			if err != nil {
				return nil, err
			}
			return func(context.Context) (Report, error) { return report, nil }, nil
		}}
}

// ClusterNotFound deletes the cluster (after a backup); the heal restores a
// related cluster from that backup and reports its ID.
func ClusterNotFound(clusterID string) Fault {
	return &fault{name: "cluster-not-found", code: "CLUSTER_NOT_FOUND", scope: Scope{ClusterID: clusterID},
		inject: func(ctx context.Context, t Target, scope Scope) (Heal, error) {
			if err := t.DeleteCluster(ctx, scope.ClusterID); err != nil {
				return nil, err
			}
			return restoreRelated(t, scope.ClusterID), nil
		}}
}

func restoreRelated(t Target, clusterID string) Heal {
	return func(ctx context.Context) (Report, error) {
		id, err := t.RestoreCluster(ctx, clusterID)
		return Report{ClusterID: id}, err
	}
}

// InsufficientHSMs deletes every HSM of the cluster; the heal adds two
// again, restored from the cluster's latest backup.
func InsufficientHSMs(clusterID string) Fault {
	return &fault{name: "insufficient-cloudhsm-hsms", code: "INSUFFICIENT_CLOUDHSM_HSMS", scope: Scope{ClusterID: clusterID},
		inject: func(ctx context.Context, t Target, scope Scope) (Heal, error) {
			hsms, err := t.HSMs(scope.ClusterID)
			if err != nil {
				return nil, err
			}
			var zones []string
			for _, h := range hsms {
				zones = append(zones, h.AvailabilityZone)
				if err := t.DeleteHSM(ctx, scope.ClusterID, h.ID); err != nil {
					return nil, err
				}
			}
			return healed(func(ctx context.Context) error {
				for _, zone := range zones {
					if _, err := t.AddHSM(ctx, scope.ClusterID, zone); err != nil {
						return err
					}
				}
				return nil
			}), nil
		}}
}

// NetworkErrors cuts the cluster's HSMs off the network: containers leave
// their networks; where HSMs are processes, every connection between KMS and
// them is reset (a toxiproxy toxic).
func NetworkErrors(clusterID string) Fault {
	return &fault{name: "network-errors", code: "NETWORK_ERRORS", scope: Scope{ClusterID: clusterID},
		inject: func(ctx context.Context, t Target, scope Scope) (Heal, error) {
			hsms, err := t.HSMs(scope.ClusterID)
			if err != nil {
				return nil, err
			}
			var reconnects []func() error
			heal := healed(func(context.Context) error {
				var errs []error
				for _, r := range reconnects {
					errs = append(errs, r())
				}
				return errors.Join(errs...)
			})
			for _, h := range hsms {
				reconnect, err := t.DisconnectNode(h.ID)
				if errors.Is(err, errors.ErrUnsupported) {
					return toxicOnHSMs(t, scope, ResetPeer{})
				}
				if err != nil {
					_, _ = heal(ctx)
					return nil, err
				}
				reconnects = append(reconnects, reconnect)
			}
			return heal, nil
		}}
}

// InternalError arms the failpoint in KMS's connect path for the cluster.
func InternalError(clusterID string) Fault {
	return &fault{name: "internal-error", code: "INTERNAL_ERROR", scope: Scope{ClusterID: clusterID},
		inject: func(_ context.Context, t Target, scope Scope) (Heal, error) {
			disarm := t.ArmKMSFailpoint("connect", scope.ClusterID)
			return healed(func(context.Context) error { disarm(); return nil }), nil
		}}
}

// UserNotFound deletes kmsuser on every HSM; the heal recreates it with a
// new password and reports it.
func UserNotFound(clusterID string) Fault {
	return &fault{name: "user-not-found", code: "USER_NOT_FOUND", scope: Scope{ClusterID: clusterID},
		inject: func(ctx context.Context, t Target, scope Scope) (Heal, error) {
			officer, err := t.Officer(ctx, scope.ClusterID)
			if err != nil {
				return nil, err
			}
			defer officer.Close()
			if err := officer.DeleteUser(ctx, KMSUser); err != nil {
				return nil, err
			}
			return func(ctx context.Context) (Report, error) {
				officer, err := t.Officer(ctx, scope.ClusterID)
				if err != nil {
					return Report{}, err
				}
				defer officer.Close()
				password := newPassword()
				return Report{KMSUserPassword: password}, officer.CreateUser(ctx, KMSUser, "CU", password)
			}, nil
		}}
}

// UserLoggedIn logs another client in as kmsuser on every HSM (the officer
// first sets it a password that client knows, as a customer would); the heal
// logs it out and reports that password.
func UserLoggedIn(clusterID string) Fault {
	return &fault{name: "user-logged-in", code: "USER_LOGGED_IN", scope: Scope{ClusterID: clusterID},
		inject: func(ctx context.Context, t Target, scope Scope) (Heal, error) {
			report, err := resetKMSUser(ctx, t, scope.ClusterID)
			if err != nil {
				return nil, err
			}
			hsms, err := activeHSMs(t, scope.ClusterID)
			if err != nil {
				return nil, err
			}
			var sessions []*hsmclient.Conn
			closeAll := func() {
				for _, c := range sessions {
					_ = c.Logout(context.Background())
					_ = c.Close()
				}
			}
			for _, h := range hsms {
				conn, err := t.Dial(ctx, scope.ClusterID, h.ID)
				if err == nil {
					if err = conn.Login(ctx, KMSUser, report.KMSUserPassword); err != nil {
						_ = conn.Close()
					}
				}
				if err != nil {
					closeAll()
					return nil, err
				}
				sessions = append(sessions, conn)
			}
			return func(context.Context) (Report, error) { closeAll(); return report, nil }, nil
		}}
}

// clusterSubnet returns a subnet of the cluster's first ACTIVE HSM.
func clusterSubnet(t Target, clusterID string) (string, error) {
	hsms, err := activeHSMs(t, clusterID)
	if err != nil {
		return "", err
	}
	return hsms[0].SubnetID, nil
}

// SubnetNotFound deletes a subnet of the cluster; the heal restores a
// related cluster from a backup in new subnets and reports its ID.
func SubnetNotFound(clusterID string) Fault {
	return &fault{name: "subnet-not-found", code: "SUBNET_NOT_FOUND", scope: Scope{ClusterID: clusterID},
		inject: func(_ context.Context, t Target, scope Scope) (Heal, error) {
			subnet, err := clusterSubnet(t, scope.ClusterID)
			if err != nil {
				return nil, err
			}
			if err := t.DeleteSubnet(subnet); err != nil {
				return nil, err
			}
			return restoreRelated(t, scope.ClusterID), nil
		}}
}

// InsufficientFreeAddresses takes every free address of a subnet of the
// cluster; the heal frees them.
func InsufficientFreeAddresses(clusterID string) Fault {
	return &fault{name: "insufficient-free-addresses-in-subnet", code: "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET", scope: Scope{ClusterID: clusterID},
		inject: func(_ context.Context, t Target, scope Scope) (Heal, error) {
			subnet, err := clusterSubnet(t, scope.ClusterID)
			if err != nil {
				return nil, err
			}
			release, err := t.FillSubnet(subnet)
			if err != nil {
				return nil, err
			}
			return healed(func(context.Context) error { release(); return nil }), nil
		}}
}

// toxicOnHSMs puts the toxic in front of one HSM (scope.HSMID) or all.
func toxicOnHSMs(t Target, scope Scope, toxic Toxic) (Heal, error) {
	hsms, err := t.HSMs(scope.ClusterID)
	if err != nil {
		return nil, err
	}
	var removes []func() error
	for _, h := range hsms {
		if scope.HSMID != "" && h.ID != scope.HSMID {
			continue
		}
		remove, err := t.AddToxic(h.ID, toxic)
		if err != nil {
			for _, r := range removes {
				_ = r()
			}
			return nil, err
		}
		removes = append(removes, remove)
	}
	return healed(func(context.Context) error {
		var errs []error
		for _, r := range removes {
			errs = append(errs, r())
		}
		return errors.Join(errs...)
	}), nil
}
