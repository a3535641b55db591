package main

import "github.com/urfave/cli/v2"

// hmacKeyFileFlag names the key under which loads store user names and IP
// addresses as keyed pseudonyms, and forget --pseudonymize makes its
// pseudonyms (README: Privacy). The key stays in the process.
func hmacKeyFileFlag() cli.Flag {
	return &cli.StringFlag{Name: "hmac-key-file", EnvVars: []string{"SPARKEVENTS_HMAC_KEY_FILE"}, Usage: "store user names and IP addresses as HMACs under the key in this file (a secret; see the README: Privacy)"}
}
