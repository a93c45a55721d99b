package kms

import "time"

// The CloudHSM connection error codes (ConnectionErrorCodeType).
const (
	CodeInvalidCredentials        = "INVALID_CREDENTIALS"
	CodeClusterNotFound           = "CLUSTER_NOT_FOUND"
	CodeNetworkErrors             = "NETWORK_ERRORS"
	CodeInternalError             = "INTERNAL_ERROR"
	CodeInsufficientHSMs          = "INSUFFICIENT_CLOUDHSM_HSMS"
	CodeUserLockedOut             = "USER_LOCKED_OUT"
	CodeUserNotFound              = "USER_NOT_FOUND"
	CodeUserLoggedIn              = "USER_LOGGED_IN"
	CodeSubnetNotFound            = "SUBNET_NOT_FOUND"
	CodeInsufficientFreeAddresses = "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET"
)

// Key states (KeyState).
const (
	KeyEnabled         = "Enabled"
	KeyDisabled        = "Disabled"
	KeyPendingDeletion = "PendingDeletion"
	KeyUnavailable     = "Unavailable"
)

// Key origins (OriginType).
const (
	OriginAWSKMS      = "AWS_KMS"
	OriginAWSCloudHSM = "AWS_CLOUDHSM"
)

// keyStore is a custom key store as KMS keeps it. Password is the kmsuser
// password KMS knows (rotated on every connect); PendingPassword, when set,
// is the password a rotation began to give kmsuser and whose end KMS has not
// recorded: each HSM of the cluster has one of the two, whatever instant a
// crash or an abandoned connect fell on. Neither leaves the service in a
// response or a log.
type keyStore struct {
	Seq       uint64 `json:"seq"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	ClusterID string `json:"clusterId"`
	// ClusterCertificate identifies the cluster's backup lineage: the
	// store may move only to a cluster with the same certificate.
	ClusterCertificate string          `json:"clusterCertificate"`
	TrustAnchor        string          `json:"trustAnchor"`
	Password           string          `json:"password"`
	PendingPassword    string          `json:"pendingPassword,omitempty"`
	State              ConnectionState `json:"state"`
	ErrorCode          string          `json:"errorCode,omitempty"`
	Created            time.Time       `json:"created"`

	// epoch counts the store's state changes in this service: background
	// work started in one epoch settles only if the store is still in it.
	epoch uint64
}

// key is a KMS key. State holds the state the key has when usable
// (Enabled, Disabled or PendingDeletion); a key of a custom key store that
// is not CONNECTED shows as Unavailable unless it is PendingDeletion, and
// gets State back when the store reconnects.
type key struct {
	Seq           uint64    `json:"seq"`
	ID            string    `json:"id"`
	ARN           string    `json:"arn"`
	Description   string    `json:"description"`
	Origin        string    `json:"origin"`
	State         string    `json:"state"`
	Created       time.Time `json:"created"`
	StoreID       string    `json:"storeId,omitempty"`
	ClusterID     string    `json:"clusterId,omitempty"`
	BackingKeyID  string    `json:"backingKeyId,omitempty"` // the HSM key (AWS_CLOUDHSM)
	SealedKey     []byte    `json:"sealedKey,omitempty"`    // AWS_KMS key material, sealed by the service key
	DeletionDate  time.Time `json:"deletionDate,omitempty"`
	PendingWindow int       `json:"pendingWindow,omitempty"`
}

// alias names a key.
type alias struct {
	Seq     uint64    `json:"seq"`
	Name    string    `json:"name"`
	KeyID   string    `json:"keyId"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}
