package server

import (
	"encoding/json"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"

	"github.com/berth-engine/berth/api/version"
)

// legacyNetworkFields is the last API version whose container inspect
// response carries the per-container network fields at the top of
// NetworkSettings (IPAddress, Gateway, MacAddress...). API 1.52 removed
// them; they repeat the default bridge network's endpoint.
var legacyNetworkFields = version.Version{Major: 1, Minor: 51}

// inspectForVersion returns the container inspect response in the shape
// that clients of API version v expect.
func inspectForVersion(resp container.InspectResponse, v version.Version) (any, error) {
	if legacyNetworkFields.Less(v) || resp.NetworkSettings == nil {
		return resp, nil
	}

	data, err := json.Marshal(resp)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	settings, _ := out["NetworkSettings"].(map[string]any)
	if settings == nil {
		return out, nil
	}

	legacy := map[string]any{
		"Bridge": "", "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "",
		"GlobalIPv6PrefixLen": 0, "HairpinMode": false, "IPAddress": "", "IPPrefixLen": 0,
		"IPv6Gateway": "", "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
		"MacAddress": "", "SecondaryIPAddresses": nil, "SecondaryIPv6Addresses": nil,
	}
	if ep := resp.NetworkSettings.Networks["bridge"]; ep != nil {
		legacy["EndpointID"] = ep.EndpointID
		if ep.IPAddress.IsValid() {
			legacy["IPAddress"] = ep.IPAddress.String()
			legacy["IPPrefixLen"] = ep.IPPrefixLen
		}
		if ep.Gateway.IsValid() {
			legacy["Gateway"] = ep.Gateway.String()
		}
		if len(ep.MacAddress) > 0 {
			legacy["MacAddress"] = ep.MacAddress.String()
		}
	}
	for k, v := range legacy {
		settings[k] = v
	}
	return out, nil
}

// API versions at which Docker Engine changed the image list and image
// inspect responses, from the Engine API version history (docs/CHANGELOG.md
// of github.com/moby/moby/api v1.57.0).
var (
	// API 1.43 sends [] for the RepoTags and RepoDigests of untagged images
	// in the image list. Older versions send "<none>:<none>" and
	// "<none>@<none>".
	emptyRepoTagsVersion = version.Version{Major: 1, Minor: 43}
	// API 1.44 dropped VirtualSize (always equal to Size) from the image
	// list and image inspect, and stopped sending image inspect's Created
	// when the image config has none.
	noVirtualSizeVersion = version.Version{Major: 1, Minor: 44}
	// API 1.45 dropped Container and ContainerConfig from image inspect.
	noContainerConfigVersion = version.Version{Major: 1, Minor: 45}
	// API 1.50 dropped the container-only fields (Hostname, Tty...) from
	// image inspect's Config.
	noContainerOnlyConfigVersion = version.Version{Major: 1, Minor: 50}
	// API 1.51 counts the containers of each image in the image list. Older
	// versions send -1.
	imageContainersVersion = version.Version{Major: 1, Minor: 51}
	// API 1.52 omits empty Parent, Comment, DockerVersion and Author, and
	// empty Config fields, from image inspect.
	omitEmptyImageFieldsVersion = version.Version{Major: 1, Minor: 52}
)

// imageListForVersion returns the image list in the shape that clients of
// API version v expect.
func imageListForVersion(list []image.Summary, v version.Version) (any, error) {
	if v.AtLeast(imageContainersVersion) {
		return list, nil
	}
	out := make([]map[string]any, 0, len(list))
	for _, img := range list {
		if v.Less(emptyRepoTagsVersion) && len(img.RepoTags) == 0 && len(img.RepoDigests) == 0 {
			img.RepoTags = []string{"<none>:<none>"}
			img.RepoDigests = []string{"<none>@<none>"}
		}
		if img.RepoTags == nil {
			img.RepoTags = []string{}
		}
		if img.RepoDigests == nil {
			img.RepoDigests = []string{}
		}
		img.Containers = -1
		fields, err := toJSONObject(img)
		if err != nil {
			return nil, err
		}
		if v.Less(noVirtualSizeVersion) {
			fields["VirtualSize"] = img.Size
		}
		out = append(out, fields)
	}
	return out, nil
}

// imageInspectForVersion returns the image inspect response in the shape
// that clients of API version v expect. Before API 1.52, the empty fields
// that later versions omit are sent as "" or null.
func imageInspectForVersion(resp image.InspectResponse, v version.Version) (any, error) {
	if v.AtLeast(omitEmptyImageFieldsVersion) {
		return resp, nil
	}
	out, err := toJSONObject(resp)
	if err != nil {
		return nil, err
	}
	for _, key := range []string{"Parent", "Comment", "DockerVersion", "Author"} {
		if _, ok := out[key]; !ok {
			out[key] = ""
		}
	}

	config := map[string]any{}
	if resp.Config != nil {
		if config, err = toJSONObject(resp.Config); err != nil {
			return nil, err
		}
	}
	for key, empty := range map[string]any{
		"Cmd": nil, "Entrypoint": nil, "Env": nil, "Labels": nil, "OnBuild": nil,
		"User": "", "Volumes": nil, "WorkingDir": "",
	} {
		if _, ok := config[key]; !ok {
			config[key] = empty
		}
	}
	if v.Less(noContainerOnlyConfigVersion) {
		for key, empty := range map[string]any{
			"Hostname": "", "Domainname": "", "AttachStdin": false, "AttachStdout": false,
			"AttachStderr": false, "Tty": false, "OpenStdin": false, "StdinOnce": false, "Image": "",
		} {
			config[key] = empty
		}
	}
	out["Config"] = config

	if v.Less(noContainerConfigVersion) {
		// The config of the container an image was committed from. berth
		// does not record it, like Docker Engine for images built by
		// BuildKit, which sends an empty one.
		out["Container"] = ""
		out["ContainerConfig"] = container.Config{}
	}
	if v.Less(noVirtualSizeVersion) {
		out["VirtualSize"] = resp.Size
		if _, ok := out["Created"]; !ok {
			out["Created"] = time.Time{}.Format(time.RFC3339Nano)
		}
	}
	return out, nil
}

// toJSONObject returns v encoded as JSON and decoded into a map, so fields
// can be added or removed by name.
func toJSONObject(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return out, nil
}
