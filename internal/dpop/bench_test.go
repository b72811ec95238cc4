package dpop

import (
	"testing"
	"time"
)

func BenchmarkProof(b *testing.B) {
	for _, alg := range Algs {
		b.Run(alg, func(b *testing.B) {
			k := mustKey(b, alg)
			for b.Loop() {
				_, _ = k.Proof("POST", testURL, ProofOptions{AccessToken: testToken})
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range Algs {
		b.Run(alg, func(b *testing.B) {
			k := mustKey(b, alg)
			v := NewVerifier(VerifierConfig{ReplayPerKey: 1 << 30, Window: time.Hour})
			for b.Loop() {
				b.StopTimer()
				p, _ := k.Proof("POST", testURL, ProofOptions{AccessToken: testToken})
				b.StartTimer()
				if _, err := v.Verify(Request{Proofs: []string{p}, Method: "POST", URL: testURL, AccessToken: testToken}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseProof(b *testing.B) {
	k := mustKey(b, ES256)
	p, _ := k.Proof("POST", testURL, ProofOptions{AccessToken: testToken})
	for b.Loop() {
		if _, err := parseProof(p); err != nil {
			b.Fatal(err)
		}
	}
}
