package loadgen

// NewClientTuned is newClient, for tests that watch the client's
// connections.
var NewClientTuned = newClient
