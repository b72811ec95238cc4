package vault

import (
	"bytes"
	"errors"
	"testing"

	"filippo.io/age"
	"github.com/keyrelay/keyrelay/internal/testkit"
)

// FuzzDecodeState: decoding the plaintext inside tokens.age never panics,
// fails only with a *FormatError or a *NewerError, and whatever decodes re-encodes to the
// same state.
func FuzzDecodeState(f *testing.F) {
	f.Add([]byte(`{"version":1,"accounts":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeState(b)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		enc, err := encodeState(st)
		testkit.NoErr(t, err, "decoded state does not encode")
		st2, err := decodeState(enc)
		testkit.NoErr(t, err, "re-decode")
		enc2, _ := encodeState(st2)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip differs:\n%s\n%s", enc, enc2)
		}
	})
}

// FuzzDecodeMeta: vault.json decoding never panics and fails only with a
// *FormatError or a *NewerError.
func FuzzDecodeMeta(f *testing.F) {
	f.Add([]byte(`{"version":1,"id":"00112233445566778899aabbccddeeff","key_source":"keychain","recipient":"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p","created":"2026-11-25T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if !m.KeySource.valid() || !validID(m.ID) {
			t.Fatalf("accepted invalid meta %+v", m)
		}
	})
}

func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	var fe *FormatError
	var ne *NewerError
	if !errors.As(err, &fe) && !errors.As(err, &ne) {
		t.Fatalf("error of type %T: %v", err, err)
	}
}

// fuzzKey is a fixed, fake identity for FuzzDecryptState.
const fuzzKey = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"

// FuzzDecryptState: arbitrary tokens.age bytes never panic the decryption
// and decoding path.
func FuzzDecryptState(f *testing.F) {
	id, err := age.ParseX25519Identity(fuzzKey)
	testkit.NoErr(f, err)
	var buf bytes.Buffer
	w, _ := age.Encrypt(&buf, id.Recipient())
	w.Write([]byte(`{"version":1,"accounts":[{"issuer":"https://i","access_token":"fake"}]}`))
	w.Close()
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		decryptState(b, id)
	})
}
