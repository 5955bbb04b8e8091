package main

import (
	"encoding/json"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/sandlock/sandlock-runtime/lifecycle"
)

var stateCommand = &cli.Command{
	Name:      "state",
	Usage:     "print the OCI state of a container as JSON",
	ArgsUsage: "<container-id>",
	Action: func(c *cli.Context) error {
		id, err := oneID(c)
		if err != nil {
			return err
		}
		cont, err := lifecycle.Load(options(c).Root, id)
		if err != nil {
			return err
		}
		return printJSON(stateDoc(cont))
	},
}

// containerState is runc's state document: the OCI state plus rootfs, created and owner.
type containerState struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     string            `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Resources is not runc's: the container's linux.resources as in force (create's, with
	// each update merged in); callers decoding runc's document ignore it.
	Resources *specs.LinuxResources `json:"resources,omitempty"`
}

func stateDoc(c *lifecycle.Container) containerState {
	o := c.OCIState()
	d := containerState{OCIVersion: o.Version, ID: o.ID, Pid: o.Pid, Status: string(o.Status),
		Bundle: o.Bundle, Annotations: o.Annotations}
	if s := c.State; s != nil {
		d.Rootfs = s.Rootfs
		d.Created = s.Created.Format("2006-01-02T15:04:05.999999999Z")
		d.Owner = s.Owner
		d.Resources = c.Resources()
	}
	return d
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
