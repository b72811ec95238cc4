package config

import "os"

// secretVars are read once and removed from the process environment, so
// no child (the browser, a key command) inherits them.
var secretVars = []string{"RELAY_CLIENT_SECRET", "RELAY_HEADERS"}

// ScrubEnv removes the secret variables (RELAY_CLIENT_SECRET,
// RELAY_HEADERS) from the process environment, so no child process
// inherits them, and returns the getenv to read the settings with: it
// still sees their values. Call it once, before starting any process.
func ScrubEnv() (getenv func(string) string) {
	kept := map[string]string{}
	for _, k := range secretVars {
		kept[k] = os.Getenv(k)
		_ = os.Unsetenv(k)
	}
	return func(k string) string {
		if v, ok := kept[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
}
