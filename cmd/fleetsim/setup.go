package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"fleetmon/cmd/fleetsim/sim"
)

// runSetup is `fleetsim setup`: what the demo's misuse needs, put into the server through its
// HTTP API as an administrator would (every change audited there), never behind its back.
func runSetup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: fleetsim setup --url URL --count N [flags]   (token in FLEETSIM_TOKEN)

Prepares a server for "fleetsim demo" with the same --count, --seed and --phone-base, through
its API with an administrator's token (FLEETSIM_TOKEN, e.g. from "fleetd token create --user
admin"): demo calendars that have the first unit off duty for the next hours and the others on
duty, whatever the time of day; a permitted area and a 60 km/h zone over the roads the cars
drive; one car sealed; designated parking for the car that stayed out last night. Running it
again changes only the calendars (to the new time of day). Prints which plates do what.

Flags:
`)
		fs.PrintDefaults()
	}
	base := fs.String("url", "http://127.0.0.1:8080", "fleetd's HTTP `URL`")
	count := fs.Int("count", 20, "number of vehicles")
	var ff fleetFlags
	ff.register(fs, sim.DefaultPhoneBase)
	if err := parse(fs, args); err != nil {
		return err
	}
	token := os.Getenv("FLEETSIM_TOKEN")
	if token == "" {
		fmt.Fprintln(stderr, "fleetsim setup: set FLEETSIM_TOKEN to an administrator's API token")
		return errUsage
	}
	vs, err := ff.fleet(*count)
	if err != nil {
		return err
	}
	c := &apiClient{base: strings.TrimRight(*base, "/"), token: token, hc: &http.Client{Timeout: time.Minute}}
	pl := newPlan(vs)
	if err := setUp(ctx, c, pl, time.Now()); err != nil {
		return err
	}
	_, err = io.WriteString(stdout, pl.summary())
	return err
}

// setUp puts the plan's calendars, fences and seal into the server.
func setUp(ctx context.Context, c *apiClient, pl plan, now time.Time) error {
	var units struct {
		Items []struct {
			ID   int64  `json:"id"`
			Path string `json:"path"`
		} `json:"items"`
	}
	if err := c.do(ctx, "GET", "/api/v1/units", nil, &units); err != nil {
		return err
	}
	unitID := map[string]int64{}
	for _, u := range units.Items {
		unitID[u.Path] = u.ID
	}
	for i, path := range pl.units {
		id, ok := unitID[path]
		if !ok {
			return fmt.Errorf("unit %s is not in the server: import the demo vehicles first", path)
		}
		if err := c.do(ctx, "PUT", fmt.Sprintf("/api/v1/units/%d/calendar", id), demoCalendar(now, i != offDutyUnit), nil); err != nil {
			return fmt.Errorf("demo calendar of %s: %w", path, err)
		}
	}
	// The area and the speed zone belong to the units' nearest common unit (黄石市 by default).
	owner := commonUnit(pl.units)
	oid, ok := unitID[owner]
	if !ok {
		return fmt.Errorf("the demo units have no common unit to own the permitted area")
	}
	if err := c.ensureFence(ctx, "unit", oid, demoFence("演示：黄石市区允许行驶区域", "permitted", box(permittedArea), 0)); err != nil {
		return err
	}
	if err := c.ensureFence(ctx, "unit", oid, demoFence(fmt.Sprintf("演示：市区限速 %d km/h", cityLimitKmh), "speed_zone", box(cityZone), cityLimitKmh)); err != nil {
		return err
	}
	if len(pl.vs) > sealedIndex {
		v, err := c.vehicle(ctx, pl.vs[sealedIndex].Plate)
		if err != nil {
			return err
		}
		if !v.Sealed {
			body := map[string]string{"reason": "演示：封存车辆（封存期间不得使用）"}
			if err := c.do(ctx, "POST", fmt.Sprintf("/api/v1/vehicles/%d/seal", v.ID), body, nil); err != nil {
				return fmt.Errorf("seal %s: %w", v.Plate, err)
			}
		}
	}
	if len(pl.vs) > overnightIndex {
		ov := pl.vs[overnightIndex]
		v, err := c.vehicle(ctx, ov.Plate)
		if err != nil {
			return err
		}
		n := sim.HuangshiNetwork()
		depot := n.Nodes[n.Depots[ov.UnitIndex%len(n.Depots)]]
		parking := map[string]any{"type": "Point", "coordinates": []float64{depot.Lon, depot.Lat}}
		f := demoFence("演示："+ov.Plate+" 定点停放", "parking", parking, 0)
		f["properties"].(map[string]any)["radius_m"] = parkingRadius
		if err := c.ensureFence(ctx, "vehicle", v.ID, f); err != nil {
			return err
		}
	}
	return nil
}

// demoCalendar is a unit's demo calendar: on duty (onDuty) or off duty from an hour before now
// until eight hours after it, whatever the time of day or the kind of day, through overrides of
// the days that span touches; the other days keep the usual office hours.
func demoCalendar(now time.Time, onDuty bool) map[string]any {
	from, to := now.In(cst).Add(-time.Hour).Truncate(time.Minute), now.In(cst).Add(8*time.Hour).Truncate(time.Minute)
	type period struct {
		Start string `json:"start"`
		End   string `json:"end"`
	}
	clock := func(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }
	var overrides []map[string]any
	for day := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, cst); day.Before(to); day = day.AddDate(0, 0, 1) {
		// The span within this day, in minutes after midnight.
		s := max(0, int(from.Sub(day).Minutes()))
		e := min(24*60, int(to.Sub(day).Minutes()))
		var ps []period
		if onDuty {
			ps = append(ps, period{clock(s), clock(e)})
		} else {
			if s > 0 {
				ps = append(ps, period{clock(0), clock(s)})
			}
			if e < 24*60 {
				ps = append(ps, period{clock(e), clock(24 * 60)})
			}
		}
		o := map[string]any{"date": day.Format(time.DateOnly), "name": "演示日程"}
		if len(ps) == 0 { // off duty all day
			o["kind"] = "holiday"
		} else {
			o["kind"], o["periods"] = "workday", ps
		}
		overrides = append(overrides, o)
	}
	week := make([][]period, 7)
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []period{{"08:30", "12:00"}, {"14:00", "17:30"}}
	}
	for d := range week {
		if week[d] == nil {
			week[d] = []period{}
		}
	}
	return map[string]any{"time_zone": "Asia/Shanghai", "week": week, "overrides": overrides}
}

// commonUnit returns the longest path that every one of paths starts with.
func commonUnit(paths []string) string {
	var common []string
	for i, p := range paths {
		parts := strings.Split(p, "/")
		if i == 0 {
			common = parts[:len(parts)-1]
			if len(paths) == 1 {
				common = parts
			}
			continue
		}
		n := 0
		for n < len(common) && n < len(parts) && common[n] == parts[n] {
			n++
		}
		common = common[:n]
	}
	return strings.Join(common, "/")
}

// box is a GeoJSON polygon of [south, west, north, east].
func box(b [4]float64) map[string]any {
	s, w, n, e := b[0], b[1], b[2], b[3]
	return map[string]any{"type": "Polygon", "coordinates": [][][]float64{{{w, s}, {e, s}, {e, n}, {w, n}, {w, s}}}}
}

// demoFence is a GeoJSON feature for POST /api/v1/geofences.
func demoFence(name, kind string, geometry map[string]any, limitKmh float64) map[string]any {
	props := map[string]any{"name": name, "kind": kind}
	if limitKmh > 0 {
		props["speed_limit_kmh"] = limitKmh
	}
	return map[string]any{"type": "Feature", "properties": props, "geometry": geometry}
}

// apiClient calls fleetd's API with a bearer token.
type apiClient struct {
	base, token string
	hc          *http.Client
}

// do sends body (as JSON, when not nil) and decodes the answer into out (when not nil).
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

type apiVehicle struct {
	ID     int64  `json:"id"`
	Plate  string `json:"plate"`
	Sealed bool   `json:"sealed"`
}

// vehicle finds a vehicle by its plate.
func (c *apiClient) vehicle(ctx context.Context, plate string) (apiVehicle, error) {
	var l struct {
		Items []apiVehicle `json:"items"`
	}
	if err := c.do(ctx, "GET", "/api/v1/vehicles?plate="+url.QueryEscape(plate), nil, &l); err != nil {
		return apiVehicle{}, err
	}
	for _, v := range l.Items {
		if v.Plate == plate {
			return v, nil
		}
	}
	return apiVehicle{}, fmt.Errorf("vehicle %s is not in the server: import the demo vehicles first", plate)
}

// ensureFence creates the feature as a fence of the owner (?unit= or ?vehicle=) unless the
// owner has a fence of that name already: a second set-up adds nothing.
func (c *apiClient) ensureFence(ctx context.Context, ownerKind string, owner int64, feature map[string]any) error {
	name, _ := feature["properties"].(map[string]any)["name"].(string)
	q := fmt.Sprintf("?%s=%d", ownerKind, owner)
	var l struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	if err := c.do(ctx, "GET", "/api/v1/geofences"+q, nil, &l); err != nil {
		return err
	}
	for _, f := range l.Items {
		if f.Name == name {
			return nil
		}
	}
	if err := c.do(ctx, "POST", "/api/v1/geofences"+q, feature, nil); err != nil {
		return fmt.Errorf("fence %s: %w", name, err)
	}
	return nil
}
