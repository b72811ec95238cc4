// Command credlist prints the target name of every generic credential in
// Windows Credential Manager whose name starts with its argument (go-keyring
// names keyrelay's items "keyrelay:ACCOUNT"), one per line: what another
// program than the relay sees there. It never reads a secret. The Windows
// lane (internal/winelane) builds it for windows and runs it under Wine.
package main

import (
	"fmt"
	"os"

	"github.com/danieljoos/wincred"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: credlist PREFIX")
		os.Exit(2)
	}
	creds, err := wincred.FilteredList(os.Args[1] + "*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "credlist: CredEnumerate:", err)
		os.Exit(1)
	}
	for _, c := range creds {
		fmt.Println(c.TargetName)
	}
}
