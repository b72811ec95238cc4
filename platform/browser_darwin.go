package platform

func systemBrowser(u string) []string { return []string{"open", u} }
