package sdkhttp

// NewClientWithIdle is newClient, for tests with short idle timeouts.
var NewClientWithIdle = newClient
