// Package compose is the engine-independent part of "berth compose". It
// loads projects with the Compose Specification loader (compose-go) and
// defines the labels Docker Compose writes on the objects it creates. It
// also computes the configuration hash and plans which containers up
// creates, recreates, keeps or removes.
package compose

// Labels that Docker Compose v2 writes on containers, networks and volumes.
// berth writes the same keys so that Docker Compose and berth compose list
// and manage the same projects.
const (
	ProjectLabel      = "com.docker.compose.project"
	ServiceLabel      = "com.docker.compose.service"
	NumberLabel       = "com.docker.compose.container-number"
	OneoffLabel       = "com.docker.compose.oneoff"
	ConfigHashLabel   = "com.docker.compose.config-hash"
	WorkingDirLabel   = "com.docker.compose.project.working_dir"
	ConfigFilesLabel  = "com.docker.compose.project.config_files"
	EnvFileLabel      = "com.docker.compose.project.environment_file"
	VersionLabel      = "com.docker.compose.version"
	NetworkLabel      = "com.docker.compose.network"
	VolumeLabel       = "com.docker.compose.volume"
	DependenciesLabel = "com.docker.compose.depends_on"
	ImageLabel        = "com.docker.compose.image"
	ReplaceLabel      = "com.docker.compose.replace"
)

// Version is the value of VersionLabel. Tools that read the label expect a
// Docker Compose v2 release number.
//
// NOTE: berth follows the labels and names of Docker Compose v2 but has not
// been tested against Docker Compose 2.29.0 itself.
const Version = "2.29.0"
