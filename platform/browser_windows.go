package platform

// systemBrowser uses rundll32 rather than "cmd /c start", which would pass
// the URL through cmd.exe's parser.
func systemBrowser(u string) []string {
	return []string{"rundll32", "url.dll,FileProtocolHandler", u}
}

func hasDisplay(func(string) string) bool { return true }
