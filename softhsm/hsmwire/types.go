package hsmwire

// UserInfo is one entry of a ListUsers answer (JSON in Response.Data).
type UserInfo struct {
	Name         string `json:"name"`
	Role         string `json:"role"`
	Locked       bool   `json:"locked"`
	FailedLogins int    `json:"failedLogins"`
	// Sessions counts the connections logged in as the user right now.
	Sessions int `json:"sessions"`
}

// KeyInfo is one entry of a ListKeys answer (JSON in Response.Data).
type KeyInfo struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// NodeInfo is the Info answer (JSON in Response.Data): what an
// unauthenticated session may learn about a node.
type NodeInfo struct {
	HSMID string `json:"hsmId"`
	// Activated is true once no pre-crypto officer is left, i.e. the
	// cluster's first officer changed its initial password.
	Activated bool `json:"activated"`
	Users     int  `json:"users"`
	Keys      int  `json:"keys"`
}
