package compose

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/compose-spec/compose-go/v2/types"
)

// ServiceHash returns the value of the config-hash label: a SHA-256 of the
// service's JSON form without the fields that do not change a container
// (build, pull policy, replica count, dependencies and profiles). up
// recreates a container whose label differs from the service's hash.
//
// NOTE: Docker Compose hashes its own serialisation of the service, so its
// hash of the same file can differ from berth's. Then "docker compose up"
// recreates containers that berth compose created, and the other way round.
func ServiceHash(service types.ServiceConfig) (string, error) {
	service.Build = nil
	service.PullPolicy = ""
	service.Scale = nil
	if service.Deploy != nil {
		deploy := *service.Deploy
		deploy.Replicas = nil
		service.Deploy = &deploy
	}
	service.DependsOn = nil
	service.Profiles = nil
	data, err := json.Marshal(service)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}
