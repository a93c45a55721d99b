package testenv

import (
	"crypto/rand"
	"os"

	"github.com/kmsharness/kmsharness/softhsm"
)

// DirectToken opens a SoftHSM module in a temporary directory of its own,
// creates a token with one AES-256 key "bench" and returns the token, for
// benchmarks that compare a path with PKCS#11 called directly in-process.
// The process must not have opened another module. cleanup closes both.
func DirectToken() (tok *softhsm.Token, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "kmsharness-direct-")
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	conf, err := softhsm.WriteConfig(dir)
	if err != nil {
		return nil, nil, err
	}
	module, err := softhsm.OpenModule(SoftHSMLibrary(), conf)
	if err != nil {
		return nil, nil, err
	}
	wrap := make([]byte, 32)
	_, _ = rand.Read(wrap)
	if err := module.CreateToken(softhsm.TokenSpec{Label: "direct", SOPIN: "so-secret", UserPIN: "user-secret", TrustedKeys: map[string][]byte{"wrap": wrap}}); err != nil {
		return nil, nil, err
	}
	if tok, err = module.OpenToken("direct", "user-secret"); err != nil {
		return nil, nil, err
	}
	if _, err := tok.GenerateKey("wrap", softhsm.KeyOptions{ID: "bench"}); err != nil {
		return nil, nil, err
	}
	return tok, func() { _ = tok.Close(); _ = module.Close(); _ = os.RemoveAll(dir) }, nil
}
