package compose

import (
	"sort"
)

// Container is an existing container of a service, as the planner reads
// it: identity, number and config hash from its labels, and its state.
type Container struct {
	ID      string
	Name    string
	Number  int
	Hash    string
	Running bool
}

// ActionKind is the kind of step up takes for one container of a service.
type ActionKind string

// Action kinds, in the words Docker Compose prints for them.
const (
	// Create makes and starts a container with a new number.
	Create ActionKind = "Create"
	// Recreate replaces a container whose configuration hash is stale,
	// keeping its number.
	Recreate ActionKind = "Recreate"
	// Start starts a stopped container that is up to date.
	Start ActionKind = "Start"
	// Restart restarts a running container because a dependency that
	// declares restart: true was recreated.
	Restart ActionKind = "Restart"
	// Keep leaves a running, up-to-date container alone.
	Keep ActionKind = "Running"
	// Remove stops and removes a container beyond the service's scale.
	Remove ActionKind = "Remove"
)

// Action is one planned step for one container of a service. Container is
// nil for Create.
type Action struct {
	Kind      ActionKind
	Number    int
	Container *Container
}

// Recreate policies of up.
const (
	// RecreateDiverged recreates containers whose hash changed (default).
	RecreateDiverged = "diverged"
	// RecreateForce recreates every container (--force-recreate).
	RecreateForce = "force"
	// RecreateNever keeps existing containers as they are (--no-recreate).
	RecreateNever = "never"
)

// PlanInput describes one service for PlanService.
type PlanInput struct {
	// Hash is ServiceHash of the service's current configuration.
	Hash string
	// Scale is the number of containers the service should have.
	Scale int
	// Existing are the service's containers, without one-off containers.
	Existing []Container
	// Policy is one of RecreateDiverged, RecreateForce or RecreateNever.
	Policy string
	// RestartForDependency restarts kept containers because a dependency
	// with restart: true was recreated.
	RestartForDependency bool
}

// PlanService decides, for each container of a service, whether up
// creates, recreates, starts, restarts, keeps or removes it. Containers
// beyond Scale are removed, stale and stopped ones first, then the highest
// numbers. New containers take numbers above the highest existing one, as
// Docker Compose numbers them.
func PlanService(in PlanInput) []Action {
	existing := append([]Container(nil), in.Existing...)
	sort.SliceStable(existing, func(i, j int) bool {
		return existing[i].Number < existing[j].Number
	})

	// Keep the best containers: up to date and running first, then by
	// number, so that scaling down removes stale and stopped ones.
	ranked := append([]Container(nil), existing...)
	sort.SliceStable(ranked, func(i, j int) bool {
		ri, rj := rank(ranked[i], in.Hash), rank(ranked[j], in.Hash)
		if ri != rj {
			return ri < rj
		}
		return ranked[i].Number < ranked[j].Number
	})

	var actions []Action
	kept := ranked
	if len(ranked) > in.Scale {
		kept = ranked[:in.Scale]
		for i := range ranked[in.Scale:] {
			c := ranked[in.Scale+i]
			actions = append(actions, Action{Kind: Remove, Number: c.Number, Container: &c})
		}
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].Number < kept[j].Number })

	for i := range kept {
		c := kept[i]
		actions = append(actions, Action{Kind: keepAction(c, in), Number: c.Number, Container: &c})
	}

	next := 1
	for _, c := range existing {
		if c.Number >= next {
			next = c.Number + 1
		}
	}
	for n := len(kept); n < in.Scale; n++ {
		actions = append(actions, Action{Kind: Create, Number: next})
		next++
	}
	return actions
}

func keepAction(c Container, in PlanInput) ActionKind {
	switch {
	case in.Policy == RecreateForce:
		return Recreate
	case in.Policy != RecreateNever && c.Hash != in.Hash:
		return Recreate
	case !c.Running:
		return Start
	case in.RestartForDependency:
		return Restart
	default:
		return Keep
	}
}

// rank orders containers by how much up would keep of them: 0 for up to
// date and running, 1 for up to date and stopped, 2 for stale.
func rank(c Container, hash string) int {
	switch {
	case c.Hash != hash:
		return 2
	case !c.Running:
		return 1
	default:
		return 0
	}
}

// Changed reports whether actions replace or add a container, which is
// when dependents that declare restart: true must restart.
func Changed(actions []Action) bool {
	for _, a := range actions {
		if a.Kind == Create || a.Kind == Recreate {
			return true
		}
	}
	return false
}
