package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// version is the release; the build info says which commit it was built
// from.
const version = "0.1.0"

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version, the commit it was built from and the Go toolchain (as --version does)",
		Action: func(c *cli.Context) error {
			return writeVersion(c.App.Writer)
		},
	}
}

// writeVersion prints the release, the module version and the VCS stamp
// that go build records (runtime/debug.ReadBuildInfo): the revision, its
// time, and whether the tree had uncommitted changes.
func writeVersion(w io.Writer) error {
	fmt.Fprintf(w, "sparkevents %s\n", version)
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		_, err := fmt.Fprintf(w, "go        %s/%s (no build information)\n", runtime.GOOS, runtime.GOARCH)
		return err
	}
	setting := map[string]string{}
	for _, s := range bi.Settings {
		setting[s.Key] = s.Value
	}
	or := func(v, none string) string {
		if v == "" {
			return none
		}
		return v
	}
	fmt.Fprintf(w, "module    %s %s\n", or(bi.Main.Path, "sparkevents"), or(bi.Main.Version, "(devel)"))
	fmt.Fprintf(w, "revision  %s\n", or(setting["vcs.revision"], "unknown (built without VCS stamping: outside a git checkout, or -buildvcs=false)"))
	fmt.Fprintf(w, "time      %s\n", or(setting["vcs.time"], "unknown"))
	fmt.Fprintf(w, "modified  %s\n", or(setting["vcs.modified"], "unknown"))
	_, err := fmt.Fprintf(w, "go        %s %s/%s CGO_ENABLED=%s\n", bi.GoVersion, runtime.GOOS, runtime.GOARCH, or(setting["CGO_ENABLED"], "?"))
	return err
}
