package track_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

func TestManifestVerify(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	vid, tid := seedVehicle(t, s.Pool, "鄂B12345", "13800000001")
	w := startWriter(t, s.Pool, track.WriterConfig{})
	t0 := time.Date(2026, 11, 21, 20, 0, 0, 0, beijing)
	var ps []track.Position
	for i := range 30 {
		ps = append(ps, pos(vid, tid, t0.Add(time.Duration(i)*time.Minute), 30.2, 115.04+float64(i)*1e-3))
	}
	if err := w.Write(ctx, tid, ps, nil); err != nil {
		t.Fatal(err)
	}
	st := track.NewStore(s.Pool)
	m, err := st.NewManifest(ctx, vid, "鄂B12345", t0, t0.Add(time.Hour), "inspector1", "举报 2026-118", time.Now())
	if err != nil || m.Rows != 30 {
		t.Fatalf("manifest: %+v, %v", m, err)
	}
	// Round trips through both embeddings.
	line, err := m.TextLine()
	if err != nil {
		t.Fatal(err)
	}
	csv := "time,lat,lon\n...\n# " + line + "\n"
	geo, _ := json.Marshal(map[string]any{"type": "FeatureCollection", "features": []any{}, "fleetmon_evidence": m})
	for name, file := range map[string][]byte{"csv": []byte(csv), "geojson": geo} {
		got, err := track.ReadManifest(file)
		if err != nil || got.Digest != m.Digest || got.Reason != "举报 2026-118" {
			t.Fatalf("%s: %+v, %v", name, got, err)
		}
		v, err := st.Verify(ctx, got)
		if err != nil || !v.Intact {
			t.Fatalf("%s: untouched data not intact: %+v %v", name, v, err)
		}
	}
	if _, err := track.ReadManifest([]byte("time,lat\n")); err == nil {
		t.Error("a file without a manifest was accepted")
	}

	// One stored row is altered, one deleted, one inserted into the period.
	altered, deleted := t0.Add(7*time.Minute), t0.Add(20*time.Minute)
	if _, err := s.Pool.Exec(ctx, "UPDATE positions SET geom = ST_SetSRID(ST_MakePoint(115.5, 30.5), 4326) WHERE device_time = $1", altered); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool.Exec(ctx, "DELETE FROM positions WHERE device_time = $1", deleted); err != nil {
		t.Fatal(err)
	}
	extra := pos(vid, tid, t0.Add(90*time.Second), 30.2, 115)
	if err := w.Write(ctx, tid, []track.Position{extra}, nil); err != nil {
		t.Fatal(err)
	}
	v, err := st.Verify(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{}
	for _, d := range v.Differences {
		got[d.What] = d.DeviceTime
	}
	// The row written after the export is no difference: the export
	// could not hold it, and says so.
	if v.Intact || len(v.Differences) != 2 || !got["altered"].Equal(altered) || !got["missing"].Equal(deleted) ||
		len(v.ReceivedAfter) != 1 || !v.ReceivedAfter[0].DeviceTime.Equal(extra.Time) || !v.CutoffRecorded {
		t.Fatalf("verification = %+v", v)
	}
	// A manifest from before cut-offs were recorded counts it as added.
	old := *m
	old.Cutoff = nil
	v, err = st.Verify(ctx, &old)
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]time.Time{}
	for _, d := range v.Differences {
		got[d.What] = d.DeviceTime
	}
	if v.Intact || len(v.Differences) != 3 || !got["added"].Equal(extra.Time) || v.CutoffRecorded || len(v.ReceivedAfter) != 0 {
		t.Fatalf("verification without a cut-off = %+v", v)
	}
	// A manifest edited by hand no longer matches its own digest.
	m.RowDigests[0].Digest = strings.Repeat("0", 64)
	if v, err := st.Verify(ctx, m); err != nil || v.ManifestConsistent || v.Intact {
		t.Fatalf("edited manifest: %+v %v", v, err)
	}
}
