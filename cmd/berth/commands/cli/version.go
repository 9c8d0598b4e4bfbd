package cli

import "runtime/debug"

// moduleVersion returns the berth version recorded in the binary's build
// information, or "dev" for builds outside a tagged module.
func moduleVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok || info.Main.Version == "" || info.Main.Version == "(devel)" {
		return "dev"
	}
	return info.Main.Version
}

// GitCommit returns the VCS revision recorded in the build information, or
// "" when the binary was built without it.
func GitCommit() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, setting := range info.Settings {
		if setting.Key == "vcs.revision" {
			return setting.Value
		}
	}
	return ""
}
