package platform

func systemBrowser(u string) []string { return []string{"open", u} }

func hasDisplay(func(string) string) bool { return true }
