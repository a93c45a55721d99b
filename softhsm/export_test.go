package softhsm

// CreateTokenKey exposes createTokenKey to the package's tests.
func (t *Token) CreateTokenKey(opts KeyOptions) error { return t.createTokenKey(opts) }
