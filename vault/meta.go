package vault

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"filippo.io/age"
)

// meta is vault.json: non-secret facts about the vault. It records which key
// source was chosen at first login, so later runs use the same one, and the
// recipient, so a wrong key is detected before any decryption.
type meta struct {
	Version   int       `json:"version"`
	ID        string    `json:"id"` // random; names the keychain item
	KeySource Kind      `json:"key_source"`
	Recipient string    `json:"recipient"` // age X25519 recipient (public key)
	Created   time.Time `json:"created"`
}

func newMeta(kind Kind, id string, key *age.X25519Identity, now time.Time) *meta {
	return &meta{
		Version: formatVersion, ID: id, KeySource: kind,
		Recipient: key.Recipient().String(), Created: now.UTC(),
	}
}

// newID returns a random vault id: 32 hex digits.
func newID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b[:])
}

func encodeMeta(m *meta) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	return append(b, '\n'), err
}

// decodeMeta parses and validates vault.json.
func decodeMeta(b []byte) (*meta, error) {
	var m meta
	if err := decodeStrict(b, &m); err != nil {
		return nil, err
	}
	if err := checkVersion(m.Version); err != nil {
		return nil, err
	}
	switch {
	case !validID(m.ID):
		return nil, &FormatError{Offset: -1, Reason: "invalid id"}
	case m.KeySource == "":
		return nil, &FormatError{Offset: -1, Reason: "no key source"}
	case !m.KeySource.valid():
		return nil, &NewerError{Reason: "a key source this relay does not know"}
	}
	if _, err := age.ParseX25519Recipient(m.Recipient); err != nil {
		return nil, &FormatError{Offset: -1, Reason: "invalid recipient"}
	}
	return &m, nil
}

func validID(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
