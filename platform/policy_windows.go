package platform

import (
	"path/filepath"

	"golang.org/x/sys/windows"
)

func policyPath() string {
	base, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
	if err != nil || !filepath.IsAbs(base) {
		base = `C:\ProgramData`
	}
	return filepath.Join(base, AppName, "policy.json")
}
