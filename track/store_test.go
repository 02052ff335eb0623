package track_test

import (
	"context"
	"strings"
	"testing"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

const goodCSV = `plate,plate_color,terminal_phone,unit,category
鄂B12345,1,013800000001,湖北省/黄石市/阳新县/县机关事务中心,一般公务用车
鄂B54321,2,13800000002,湖北省/黄石市/阳新县/县机关事务中心,emergency
鄂BA0003,1,,湖北省/黄石市/黄石港区/区机关事务中心,执法执勤用车
`

func TestImportVehiclesAndRegistry(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	vs, err := track.ParseVehicleCSV(strings.NewReader(goodCSV))
	if err != nil {
		t.Fatal(err)
	}
	st := track.NewStore(s.Pool)
	created, updated, err := st.ImportVehicles(ctx, vs)
	if err != nil || created != 3 || updated != 0 {
		t.Fatalf("import = %d created, %d updated, %v", created, updated, err)
	}
	// Importing again updates, creates nothing.
	if created, updated, err = st.ImportVehicles(ctx, vs); err != nil || created != 0 || updated != 3 {
		t.Fatalf("re-import = %d created, %d updated, %v", created, updated, err)
	}
	list, err := st.ListVehicles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Plate != "鄂B12345" || list[0].TerminalPhone != "13800000001" ||
		list[0].UnitPath != "湖北省/黄石市/阳新县/县机关事务中心" || list[1].Category != track.CategoryEmergency {
		t.Fatalf("list = %+v", list)
	}

	// Registration: bound terminal admitted (2013 or 2019 digits: same
	// identity), unknown terminal refused with result 4.
	res, code, err := st.Register(ctx, track.Registration{Phone: "13800000001", ProtocolVersion: 2019, Plate: "鄂B12345"}, false)
	if err != nil || res != track.RegisterOK || len(code) != 16 {
		t.Fatalf("register = %v %q %v", res, code, err)
	}
	if res, code, err := st.Register(ctx, track.Registration{Phone: "19999999999"}, false); err != nil || res != track.RegisterUnknownTerminal || code != "" {
		t.Fatalf("register unknown = %v %q %v", res, code, err)
	}
	if _, ok, err := st.Authenticate(ctx, track.Authentication{Phone: "13800000001", Code: "WRONG", ProtocolVersion: 2013}); ok || err != nil {
		t.Fatalf("wrong code accepted: %v %v", ok, err)
	}
	term, ok, err := st.Authenticate(ctx, track.Authentication{Phone: "13800000001", Code: code, ProtocolVersion: 2019,
		IMEI: "860000000000001", SoftwareVersion: "V1.2"})
	if !ok || err != nil || term.VehicleID == 0 {
		t.Fatalf("authenticate = %+v %v %v", term, ok, err)
	}
	if err := st.Deregister(ctx, term.ID); err != nil {
		t.Fatal(err)
	}
	var imei string
	if err := s.Pool.QueryRow(ctx, "SELECT imei FROM terminals WHERE id = $1", term.ID).Scan(&imei); err != nil || imei != "860000000000001" {
		t.Errorf("imei = %q, %v", imei, err)
	}
	if _, ok, _ := st.Authenticate(ctx, track.Authentication{Phone: "13800000001", Code: code}); ok {
		t.Fatal("auth code still valid after logout (0x0003)")
	}

	// Open registration puts an unknown terminal in the unassigned unit.
	res, code, err = st.Register(ctx, track.Registration{Phone: "19999999999", Plate: "鄂B12345"}, true)
	if err != nil || res != track.RegisterOK || code == "" {
		t.Fatalf("open register = %v %q %v", res, code, err)
	}
	var plate, unit string
	err = s.Pool.QueryRow(ctx, `SELECT v.plate, u.name FROM terminals t JOIN vehicles v ON v.id = t.vehicle_id
		JOIN units u ON u.id = v.unit_id WHERE t.phone = '19999999999'`).Scan(&plate, &unit)
	if err != nil || unit != track.UnassignedUnit || plate != "未分配-19999999999" {
		t.Fatalf("open registration vehicle = %q in %q, %v (plate taken: named after phone)", plate, unit, err)
	}
}

func TestParseVehicleCSVReportsEveryBadLine(t *testing.T) {
	in := `plate,plate_color,terminal_phone,unit,category
鄂B12345,1,13800000001,湖北省/黄石市,general
,1,13800000002,湖北省/黄石市,general
鄂B3,x,13800000003,湖北省/黄石市,general
鄂B4,1,1380000000a,湖北省/黄石市,general
鄂B5,1,13800000005,湖北省//黄石市,general
鄂B6,1,13800000006,湖北省/黄石市,truck
鄂B12345,1,13800000007,湖北省/黄石市,general
鄂B8,1,013800000001,湖北省/黄石市,general
`
	_, err := track.ParseVehicleCSV(strings.NewReader(in))
	if err == nil {
		t.Fatal("bad file accepted")
	}
	for _, want := range []string{"line 3:", "line 4: plate_color", "line 5: terminal_phone", "line 6: unit",
		"line 7: category", "line 8: plate 鄂B12345 already on line 2", "line 9: terminal 13800000001 already on line 2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := track.ParseVehicleCSV(strings.NewReader("plate,unit\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("missing columns: %v", err)
	}
}
