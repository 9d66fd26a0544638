package config

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// TokenBytes is the number of random bytes in a token from NewToken.
const TokenBytes = 32

// NewToken returns a new random SCIM bearer token (32 bytes from
// crypto/rand, URL-safe base64 without padding: 43 characters) and its
// SHA-256 as lowercase hex, which is what goes into scim.tokens[].sha256.
func NewToken() (token, sha256hex string, err error) {
	b := make([]byte, TokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("config: read random bytes: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken returns the SHA-256 of token as lowercase hex. Compare it with
// the configured hashes using crypto/subtle.ConstantTimeCompare.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
