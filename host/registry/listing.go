package registry

// HealthFunc reports the health of the instance with Instance.Key
// instanceKey of the route with key routeKey, as the proxy's checks see
// it: Healthy, Unhealthy or Unknown, and why.
type HealthFunc func(routeKey, instanceKey string) (state, detail string)

// The health an instance is listed with.
const (
	Healthy   = "healthy"
	Unhealthy = "unhealthy"
	Unknown   = "unknown" // no health source, or it has not checked yet
)

// Listed is one registration as GET /v1/interconn/registry shows it: as
// stored, and the health of its instance in each of its routes.
type Listed struct {
	Stored
	Instances []InstanceState `json:"instances"`
}

// InstanceState is the health of a registration's instance in one route.
type InstanceState struct {
	Route   string `json:"route"` // Route.Key: proto + " " + urn
	Address string `json:"address"`
	Healthy *bool  `json:"healthy"` // null: unknown (no health source, or not checked yet)
	Detail  string `json:"detail,omitempty"`
}

// Health is Healthy, Unhealthy or Unknown.
func (s InstanceState) Health() string {
	switch {
	case s.Healthy == nil:
		return Unknown
	case *s.Healthy:
		return Healthy
	}
	return Unhealthy
}

// Listing is s with the health of its instance in each route; health may
// be nil (every instance Unknown).
func (s Stored) Listing(health HealthFunc) Listed {
	l := Listed{Stored: s, Instances: []InstanceState{}}
	if s.Content == nil {
		return l
	}
	for _, svc := range s.Content.Services {
		p, err := svc.parse(s.Address)
		if err != nil {
			continue
		}
		st := InstanceState{Route: p.key(), Address: p.address}
		if health != nil {
			state, detail := health(p.key(), key(s.Name, s.InstanceID))
			if state != Unknown {
				ok := state == Healthy
				st.Healthy = &ok
			}
			st.Detail = detail
		}
		l.Instances = append(l.Instances, st)
	}
	return l
}
