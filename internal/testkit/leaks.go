package testkit

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Leaks returns where any of secrets (the empty ones passed over) stands:
// "output N" for outputs[N], or the path of a file under dirs other than
// those in skip (files the test wrote a secret into on purpose).
func Leaks(secrets, outputs, dirs []string, skip ...string) []string {
	var places []string
	found := func(text, where string) {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				places = append(places, where)
			}
		}
	}
	for i, o := range outputs {
		found(o, fmt.Sprint("output ", i))
	}
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || slices.Contains(skip, p) {
				return nil
			}
			b, _ := os.ReadFile(p)
			found(string(b), p)
			return nil
		})
	}
	return places
}
