package login

import (
	"strings"
	"testing"
)

func TestASessionKeyMustBeRealKeyMaterial(t *testing.T) {
	for _, key := range []string{
		"+xE4tok5l2S0IejtCbxLUW2VMLXnnKOQ9XmMilx8BWQ=",                     // openssl rand -base64 32
		"+xE4tok5l2S0IejtCbxLUW2VMLXnnKOQ9XmMilx8BWQ",                      // unpadded
		"-xE4tok5l2S0IejtCbxLUW2VMLXnnKOQ9XmMilx8BWQ",                      // the URL alphabet
		"fb11388a89399764b4287a3b42f14b5b654c5e79e728e43d5e6322971f01591b", // hex
		"7RUrHRzFNnFysYW7Da4ju2GKlM4makQCwOkoEfaoWnUL3JtLw9h9rkwqP4ZqRYpW", // 48 bytes
	} {
		if err := checkKeyMaterial(key); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
	for key, why := range map[string]string{
		"this is my passphrase for the gate!!":                             "at least 32 random bytes",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa":                     "is not random",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=":                     "is not random",
		"0000000000000000000000000000000000000000000000000000000000000000": "is not random",
		"+xE4tok5l2S0IejtCbxLUW2VMLXnnKOQ9Xm":                              "at least 32 random bytes", // 26 bytes
		"{env.XEPAUTH_KEY}":                                                "at least 32 random bytes", // a placeholder left unresolved
	} {
		err := checkKeyMaterial(key)
		if err == nil || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "openssl rand -base64 32") {
			t.Errorf("%q: %v, want an error saying it %s and how to make one", key, err, why)
		}
	}
}
