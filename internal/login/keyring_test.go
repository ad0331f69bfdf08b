package login

import (
	"encoding/base64"
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

func TestASessionKeyIsRefusedWhenItIsWordsOrTooFewDistinctBytes(t *testing.T) {
	// Passphrases of small letters decode as base64 into 32 bytes and more.
	for _, words := range []string{
		"correcthorsebatterystaplecorrecthorsebatterystaple",
		"thequickbrownfoxjumpsoverthelazydogthequickbrownfox",
	} {
		if err := checkKeyMaterial(words); err == nil || !strings.Contains(err.Error(), "looks like words") {
			t.Errorf("%q: %v", words, err)
		}
	}
	// 16 distinct values in 32 bytes pass; 15 do not.
	withDistinct := func(n int) string {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(i%n) * 13
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	if err := checkKeyMaterial(withDistinct(16)); err != nil {
		t.Errorf("32 bytes of 16 distinct values: %v", err)
	}
	if err := checkKeyMaterial(withDistinct(15)); err == nil || !strings.Contains(err.Error(), "is not random") {
		t.Errorf("32 bytes of 15 distinct values: %v", err)
	}
	// A key read from a file or an environment variable often ends in a
	// newline.
	if err := checkKeyMaterial("+xE4tok5l2S0IejtCbxLUW2VMLXnnKOQ9XmMilx8BWQ=\n"); err != nil {
		t.Errorf("a key with its newline: %v", err)
	}
}
