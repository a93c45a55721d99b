package cloudhsm

import (
	"crypto/ecdsa"
	"crypto/x509/pkix"
	"sort"
	"time"

	"github.com/kmsharness/kmsharness/internal/awsjson"
)

// Cluster states (ClusterState in the CloudHSMv2 model).
const (
	ClusterCreateInProgress     = "CREATE_IN_PROGRESS"
	ClusterUninitialized        = "UNINITIALIZED"
	ClusterInitializeInProgress = "INITIALIZE_IN_PROGRESS"
	ClusterInitialized          = "INITIALIZED"
	ClusterActive               = "ACTIVE"
	ClusterUpdateInProgress     = "UPDATE_IN_PROGRESS"
	ClusterDeleteInProgress     = "DELETE_IN_PROGRESS"
	ClusterDeleted              = "DELETED"
	ClusterDegraded             = "DEGRADED"
)

// HSM states (HsmState in the CloudHSMv2 model).
const (
	HSMCreateInProgress = "CREATE_IN_PROGRESS"
	HSMActive           = "ACTIVE"
	HSMDegraded         = "DEGRADED"
	HSMDeleteInProgress = "DELETE_IN_PROGRESS"
	HSMDeleted          = "DELETED"
)

// Backup states.
const (
	BackupCreateInProgress = "CREATE_IN_PROGRESS"
	BackupReady            = "READY"
	BackupDeleted          = "DELETED"
)

// Names of the built-in users of every HSM.
const (
	// ApplianceUser is the appliance user (AU) on every HSM.
	ApplianceUser = "app_user"
	// InitialOfficer is the pre-crypto officer of a new cluster's first HSM.
	InitialOfficer = "admin"
)

// lineage is what clusters restored from each other's backups share: the
// cluster key and certificate, the trust anchor, the secret the HSMs derive
// their cluster keys from, and the appliance user's password.
type lineage struct {
	secret       []byte
	key          *ecdsa.PrivateKey
	subject      pkix.Name
	authorityPEM []byte // self-signed certificate of the cluster key, for the control plane's own connections
	csrPEM       []byte
	hsmCertPEM   []byte
	auPassword   string

	clusterCertPEM []byte // set by InitializeCluster
	trustAnchorPEM []byte
}

type hsm struct {
	ID           string
	AZ           string
	SubnetID     string
	ENIID        string
	IP           string
	State        string
	StateMessage string
	address      string
	certPEM      []byte // the node's TLS certificate
}

type cluster struct {
	ID             string
	State          string
	StateMessage   string
	HSMType        string
	Mode           string
	NetworkType    string
	VPCID          string
	SecurityGroup  string
	SubnetMapping  map[string]string // AZ -> subnet ID
	Created        time.Time
	SourceBackupID string
	PreCoPassword  string
	Retention      *backupRetention
	Tags           []tag
	HSMs           []*hsm
	lineage        *lineage
	// restoreImage seeds the first HSM of a cluster made from a backup.
	restoreImage []byte
}

type backupRetention struct {
	Type  string `json:"Type,omitempty"`
	Value string `json:"Value,omitempty"`
}

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type backup struct {
	ID        string
	ClusterID string
	State     string
	Created   time.Time
	Deleted   time.Time
	HSMType   string
	Mode      string
	SourceHSM string
	image     []byte
	lineage   *lineage
}

func (c *cluster) activeHSMs() []*hsm {
	var out []*hsm
	for _, h := range c.HSMs {
		if h.State == HSMActive {
			out = append(out, h)
		}
	}
	return out
}

func (c *cluster) findHSM(id, eniID, eniIP string) *hsm {
	for _, h := range c.HSMs {
		if (id != "" && h.ID == id) || (eniID != "" && h.ENIID == eniID) || (eniIP != "" && h.IP == eniIP) {
			return h
		}
	}
	return nil
}

// Output shapes, as the CloudHSMv2 model names them.

type hsmOut struct {
	AvailabilityZone string `json:"AvailabilityZone,omitempty"`
	ClusterID        string `json:"ClusterId,omitempty"`
	SubnetID         string `json:"SubnetId,omitempty"`
	EniID            string `json:"EniId,omitempty"`
	EniIP            string `json:"EniIp,omitempty"`
	HsmID            string `json:"HsmId"`
	HsmType          string `json:"HsmType,omitempty"`
	State            string `json:"State,omitempty"`
	StateMessage     string `json:"StateMessage,omitempty"`
}

type certificatesOut struct {
	ClusterCsr                      string `json:"ClusterCsr,omitempty"`
	HsmCertificate                  string `json:"HsmCertificate,omitempty"`
	AwsHardwareCertificate          string `json:"AwsHardwareCertificate,omitempty"`
	ManufacturerHardwareCertificate string `json:"ManufacturerHardwareCertificate,omitempty"`
	ClusterCertificate              string `json:"ClusterCertificate,omitempty"`
}

type clusterOut struct {
	BackupPolicy          string            `json:"BackupPolicy,omitempty"`
	BackupRetentionPolicy *backupRetention  `json:"BackupRetentionPolicy,omitempty"`
	ClusterID             string            `json:"ClusterId"`
	CreateTimestamp       *awsjson.Time     `json:"CreateTimestamp,omitempty"`
	Hsms                  []hsmOut          `json:"Hsms"`
	HsmType               string            `json:"HsmType,omitempty"`
	PreCoPassword         string            `json:"PreCoPassword,omitempty"`
	SecurityGroup         string            `json:"SecurityGroup,omitempty"`
	SourceBackupID        string            `json:"SourceBackupId,omitempty"`
	State                 string            `json:"State,omitempty"`
	StateMessage          string            `json:"StateMessage,omitempty"`
	SubnetMapping         map[string]string `json:"SubnetMapping,omitempty"`
	VpcID                 string            `json:"VpcId,omitempty"`
	NetworkType           string            `json:"NetworkType,omitempty"`
	Certificates          *certificatesOut  `json:"Certificates,omitempty"`
	TagList               []tag             `json:"TagList,omitempty"`
	Mode                  string            `json:"Mode,omitempty"`
}

type backupOut struct {
	BackupID        string        `json:"BackupId"`
	BackupArn       string        `json:"BackupArn,omitempty"`
	BackupState     string        `json:"BackupState,omitempty"`
	ClusterID       string        `json:"ClusterId,omitempty"`
	CreateTimestamp *awsjson.Time `json:"CreateTimestamp,omitempty"`
	DeleteTimestamp *awsjson.Time `json:"DeleteTimestamp,omitempty"`
	NeverExpires    bool          `json:"NeverExpires"`
	HsmType         string        `json:"HsmType,omitempty"`
	Mode            string        `json:"Mode,omitempty"`
}

func (s *Service) hsmOutput(c *cluster, h *hsm) hsmOut {
	return hsmOut{
		AvailabilityZone: h.AZ, ClusterID: c.ID, SubnetID: h.SubnetID, EniID: h.ENIID, EniIP: h.IP,
		HsmID: h.ID, HsmType: c.HSMType, State: h.State, StateMessage: h.StateMessage,
	}
}

func (s *Service) clusterOutput(c *cluster) clusterOut {
	out := clusterOut{
		BackupPolicy: "DEFAULT", BackupRetentionPolicy: c.Retention, ClusterID: c.ID,
		CreateTimestamp: awsjson.NewTime(c.Created), Hsms: []hsmOut{}, HsmType: c.HSMType,
		SecurityGroup: c.SecurityGroup, SourceBackupID: c.SourceBackupID, State: c.State,
		StateMessage: c.StateMessage, SubnetMapping: c.SubnetMapping, VpcID: c.VPCID,
		NetworkType: c.NetworkType, TagList: c.Tags, Mode: c.Mode,
	}
	if c.State == ClusterUninitialized && c.SourceBackupID == "" {
		out.PreCoPassword = c.PreCoPassword
	}
	for _, h := range c.HSMs {
		out.Hsms = append(out.Hsms, s.hsmOutput(c, h))
	}
	certs := &certificatesOut{
		AwsHardwareCertificate:          string(s.awsRoot.PEM),
		ManufacturerHardwareCertificate: string(s.manufacturerRoot.PEM),
	}
	l := c.lineage
	if len(c.HSMs) > 0 || l.clusterCertPEM != nil {
		certs.HsmCertificate = string(l.hsmCertPEM)
	}
	// The CSR exists only while an uninitialised cluster has its first HSM.
	if c.State == ClusterUninitialized && c.SourceBackupID == "" && len(c.activeHSMs()) > 0 {
		certs.ClusterCsr = string(l.csrPEM)
	}
	certs.ClusterCertificate = string(l.clusterCertPEM)
	out.Certificates = certs
	return out
}

func (s *Service) backupOutput(b *backup) backupOut {
	return backupOut{
		BackupID: b.ID, BackupArn: "arn:aws:cloudhsm:" + s.opts.region + ":" + s.opts.account + ":backup/" + b.ID,
		BackupState: b.State, ClusterID: b.ClusterID, CreateTimestamp: awsjson.NewTime(b.Created),
		DeleteTimestamp: awsjson.NewTime(b.Deleted), HsmType: b.HSMType, Mode: b.Mode,
	}
}

func sortedClusters(m map[string]*cluster) []*cluster {
	out := make([]*cluster, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (in initializeClusterInput) clusterID() string { return in.ClusterID }
func (in deleteClusterInput) clusterID() string     { return in.ClusterID }
func (in createHSMInput) clusterID() string         { return in.ClusterID }
func (in deleteHSMInput) clusterID() string         { return in.ClusterID }
