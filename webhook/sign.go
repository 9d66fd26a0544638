package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SecretPrefix starts every webhook secret (Standard Webhooks).
const SecretPrefix = "whsec_"

// Key sizes the Standard Webhooks specification recommends.
const (
	minKeyBytes = 24
	maxKeyBytes = 64
)

// ParseSecret returns the signing key of a "whsec_<base64 key>" secret. Its
// errors never quote the secret.
func ParseSecret(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, errors.New(`must start with "whsec_" followed by the base64 key`)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New(`is not "whsec_" followed by standard base64 (A-Z, a-z, 0-9, +, /, = padding)`)
	}
	if len(key) < minKeyBytes || len(key) > maxKeyBytes {
		return nil, fmt.Errorf("has a key of %d bytes; it must be %d to %d bytes (generate one with: openssl rand -base64 32)",
			len(key), minKeyBytes, maxKeyBytes)
	}
	return key, nil
}

// Sign returns the webhook-signature header value for a message:
// "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)).
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Verify reports whether header (a webhook-signature value: one or more
// space-separated "v1,<sig>") holds a valid signature of the message. It
// does not judge the timestamp's age; receivers should (e.g. 5 minutes).
func Verify(key []byte, id string, timestamp int64, body []byte, header string) bool {
	want := Sign(key, id, timestamp, body)
	for _, sig := range strings.Fields(header) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}
