//go:build !darwin && !windows

package platform

func systemBrowser(u string) []string { return []string{"xdg-open", u} }

func hasDisplay(getenv func(string) string) bool {
	return getenv("DISPLAY") != "" || getenv("WAYLAND_DISPLAY") != ""
}
