module github.com/keyrelay/keyrelay/browsertest

go 1.26.0

require (
	github.com/chromedp/chromedp v0.23.0
	github.com/keyrelay/keyrelay v0.0.0
	golang.org/x/oauth2 v0.38.0
)

require (
	github.com/chromedp/cdproto v0.159.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/golang-jwt/jwt/v5 v5.3.1 // indirect
	golang.org/x/crypto v0.59.0 // indirect
)

replace github.com/keyrelay/keyrelay => ../
