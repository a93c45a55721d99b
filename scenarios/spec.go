package scenarios

// What the checker knows of AWS KMS, written from the behavioural spec of
// the custom key store API (§2 enums, §4 operations, §5 errors, §6 state
// machine, §8 keys) and from the fault-control protocol's catalogue — never
// from an implementation's code.

// Connection states (ConnectionStateType, spec §2), and stateDeleted for a
// store DeleteCustomKeyStore removed.
const (
	stateDisconnected  = "DISCONNECTED"
	stateConnecting    = "CONNECTING"
	stateConnected     = "CONNECTED"
	stateFailed        = "FAILED"
	stateDisconnecting = "DISCONNECTING"
	stateDeleted       = "(deleted)"
)

// connectionStates lists the five states a description can show.
var connectionStates = []string{stateDisconnected, stateConnecting, stateConnected, stateFailed, stateDisconnecting}

// cloudHSMErrorCodes are the ConnectionErrorCodes a CloudHSM key store can
// show (spec §2; the other eight are for external key stores).
var cloudHSMErrorCodes = []string{"INVALID_CREDENTIALS", "CLUSTER_NOT_FOUND", "NETWORK_ERRORS", "INTERNAL_ERROR",
	"INSUFFICIENT_CLOUDHSM_HSMS", "USER_LOCKED_OUT", "USER_NOT_FOUND", "USER_LOGGED_IN", "SUBNET_NOT_FOUND",
	"INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET"}

// AWS operations the clients call (X-Amz-Target TrentService.<name>).
const (
	callCreateKey                       = "CreateKey"
	callDescribeKey                     = "DescribeKey"
	callEnableKey                       = "EnableKey"
	callDisableKey                      = "DisableKey"
	callEncrypt                         = "Encrypt"
	callDecrypt                         = "Decrypt"
	callReEncrypt                       = "ReEncrypt"
	callGenerateDataKey                 = "GenerateDataKey"
	callGenerateDataKeyWithoutPlaintext = "GenerateDataKeyWithoutPlaintext"
	callGenerateRandom                  = "GenerateRandom"
	callCreateStore                     = "CreateCustomKeyStore"
	callConnect                         = "ConnectCustomKeyStore"
	callDisconnect                      = "DisconnectCustomKeyStore"
	callUpdateStore                     = "UpdateCustomKeyStore"
	callDeleteStore                     = "DeleteCustomKeyStore"
	callDescribeStores                  = "DescribeCustomKeyStores"
)

// Calls of the fault-control protocol, recorded in the same history.
const (
	callInject = "InjectFault"
	callHeal   = "HealFault"
)

// apiCalls lists the AWS operations a history can hold.
var apiCalls = []string{callCreateKey, callDescribeKey, callEnableKey, callDisableKey, callEncrypt, callDecrypt, callReEncrypt,
	callGenerateDataKey, callGenerateDataKeyWithoutPlaintext, callGenerateRandom, callCreateStore, callConnect, callDisconnect,
	callUpdateStore, callDeleteStore, callDescribeStores}

// Exceptions (the __type of an AWS JSON error, spec §4 and §5).
const (
	excInvalidState        = "CustomKeyStoreInvalidStateException"
	excStoreNotFound       = "CustomKeyStoreNotFoundException"
	excNameInUse           = "CustomKeyStoreNameInUseException"
	excHasCMKs             = "CustomKeyStoreHasCMKsException"
	excClusterInUse        = "CloudHsmClusterInUseException"
	excClusterNotFound     = "CloudHsmClusterNotFoundException"
	excClusterNotActive    = "CloudHsmClusterNotActiveException"
	excClusterInvalidConf  = "CloudHsmClusterInvalidConfigurationException"
	excClusterNotRelated   = "CloudHsmClusterNotRelatedException"
	excIncorrectAnchor     = "IncorrectTrustAnchorException"
	excKMSInternal         = "KMSInternalException"
	excKMSInvalidState     = "KMSInvalidStateException"
	excKeyUnavailable      = "KeyUnavailableException"
	excDependencyTimeout   = "DependencyTimeoutException"
	excDisabled            = "DisabledException"
	excNotFound            = "NotFoundException"
	excInvalidCiphertext   = "InvalidCiphertextException"
	excThrottling          = "ThrottlingException"
	excLimitExceeded       = "LimitExceededException"
	excUntyped             = "(untyped)"
	excNotAWSJSON          = "(not AWS JSON)"
	excControlServerError  = "(control API server error)"
	excControlRefusedError = "(control API refusal)"
)

// Fault names of the control protocol's catalogue (docs/control-protocol.md)
// whose meaning the checker uses. A target may serve more; the checker
// treats a fault it does not know as one that may explain any failure of
// its cluster but blocks nothing.
const (
	faultUserLockedOut      = "user-locked-out"
	faultInvalidCredentials = "invalid-credentials"
	faultUserLoggedIn       = "user-logged-in"
	faultUserNotFound       = "user-not-found"
	faultNodeKilled         = "node-killed"
	faultNodeHung           = "node-hung"
	faultNodeDeleted        = "node-deleted"
	faultSlowNode           = "slow-node"
	faultNetworkBlackhole   = "network-blackhole"
	faultNetworkReset       = "network-reset"
	faultNetworkLatency     = "network-latency"
	faultNetworkBandwidth   = "network-bandwidth"
)

// hsmFaults act on one HSM and need one (needsHsm in the catalogue).
var hsmFaults = []string{faultNodeKilled, faultNodeHung, faultNodeDeleted, faultSlowNode}

// hsmOptionalFaults act on one HSM when a request names one, else on all
// HSMs of the cluster.
var hsmOptionalFaults = []string{faultNetworkBlackhole, faultNetworkReset, faultNetworkLatency, faultNetworkBandwidth}

// unreachingFaults leave KMS no way to an HSM they are in place on (the
// others only slow it down).
var unreachingFaults = []string{faultNodeKilled, faultNodeHung, faultNodeDeleted, faultNetworkBlackhole, faultNetworkReset}

// passwordChangingInjections change kmsuser's password in the cluster when
// injected (the control protocol: "kmsuser's password changed in the
// cluster", "another client logged in … after the officer set it a new
// password", "no kmsuser"). Heals report the password they set.
var passwordChangingInjections = []string{faultInvalidCredentials, faultUserLoggedIn, faultUserNotFound}
