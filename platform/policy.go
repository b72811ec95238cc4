package platform

import "path/filepath"

// PolicyPath returns where an administrator puts the machine-wide relay
// policy. The file is optional. The relay reads it from this fixed place,
// whatever the environment says, so a user cannot move or loosen it.
//
//   - Linux and other Unix: /etc/keyrelay/policy.json
//   - macOS: /Library/Application Support/keyrelay/policy.json
//   - Windows: the ProgramData known folder (asked of the OS, not read
//     from %ProgramData%, which the user can set), keyrelay\policy.json
func PolicyPath() string { return policyPath() }

func unixPolicyPath(goos string) string {
	switch goos {
	case "darwin", "ios":
		return filepath.Join("/Library", "Application Support", AppName, "policy.json")
	}
	return filepath.Join("/etc", AppName, "policy.json")
}
