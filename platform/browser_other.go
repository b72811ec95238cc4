//go:build !darwin && !windows

package platform

func systemBrowser(u string) []string { return []string{"xdg-open", u} }
