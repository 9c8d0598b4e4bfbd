package server

import (
	"encoding/json"

	"github.com/moby/moby/api/types/container"

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
