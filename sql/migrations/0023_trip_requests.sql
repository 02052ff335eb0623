-- 0023: requests for a car (用车申请), their approval (审批) and dispatch
-- (派车), and the drivers each unit keeps.
--
-- A staff member (the new role staff, which may only file and read their
-- own requests) or an office's OA system asks for a car; a supervisor of
-- the unit approves or rejects it with a reason; a supervisor dispatches a
-- vehicle and a driver. Dispatching a registered vehicle stores an
-- alert_approvals row, the same approval an import makes, which the rules
-- already honour: there is one exemption path, and approval_id links the
-- request to it. Emergency use is recorded afterwards (补录) in one step
-- and flagged. A rental car (公务租车) is recorded by its plate and company
-- and has no approval, as it has no terminal to judge.

ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('admin', 'supervisor', 'inspector', 'staff'));

-- drivers are the drivers a unit may dispatch; a name is one driver per
-- unit, so that adding the same driver twice finds the first.
CREATE TABLE drivers (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id    bigint NOT NULL REFERENCES units(id),
    name       text NOT NULL CHECK (name <> '' AND char_length(name) <= 64),
    phone      text NOT NULL DEFAULT '' CHECK (char_length(phone) <= 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (unit_id, name)
);

CREATE TABLE trip_requests (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id       bigint NOT NULL REFERENCES units(id),
    requester_id  bigint NOT NULL REFERENCES users(id),
    -- client_ref is the requester's own key for the request (the OA
    -- system's number, or the page's form key): a POST retried with it
    -- finds the request made the first time instead of a second one.
    client_ref    text NOT NULL CHECK (client_ref <> '' AND char_length(client_ref) <= 64),
    purpose       text NOT NULL CHECK (purpose <> '' AND char_length(purpose) <= 200),
    passengers    integer NOT NULL CHECK (passengers BETWEEN 1 AND 60),
    destination   text NOT NULL DEFAULT '' CHECK (char_length(destination) <= 200),
    -- The destination as a landmark, or as a point or area drawn on the
    -- map. dest_area keeps the landmark's place as it was when the request
    -- was made: what was approved does not move when the landmark is
    -- edited, and stays when it is deleted.
    dest_landmark_id bigint REFERENCES landmarks(id) ON DELETE SET NULL,
    dest_area     geometry(Geometry, 4326)
                  CHECK (dest_area IS NULL OR (GeometryType(dest_area) IN ('POINT', 'POLYGON', 'MULTIPOLYGON') AND ST_IsValid(dest_area))),
    period        tstzrange NOT NULL CHECK (NOT isempty(period) AND NOT lower_inf(period) AND NOT upper_inf(period)),
    emergency     boolean NOT NULL DEFAULT false,
    emergency_reason text NOT NULL DEFAULT '' CHECK (char_length(emergency_reason) <= 500),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'dispatched')),
    decided_by    bigint REFERENCES users(id),
    decided_at    timestamptz,
    decision_reason text NOT NULL DEFAULT '' CHECK (char_length(decision_reason) <= 500),
    vehicle_id    bigint REFERENCES vehicles(id),
    driver_id     bigint REFERENCES drivers(id),
    rental_plate  text CHECK (char_length(rental_plate) <= 16),
    rental_company text CHECK (char_length(rental_company) <= 100),
    rental_driver text CHECK (char_length(rental_driver) <= 64),
    dispatched_by bigint REFERENCES users(id),
    dispatched_at timestamptz,
    approval_id   bigint UNIQUE REFERENCES alert_approvals(id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (requester_id, client_ref),
    CHECK (status <> 'dispatched' OR vehicle_id IS NOT NULL OR rental_plate IS NOT NULL),
    CHECK (NOT emergency OR emergency_reason <> '')
);
CREATE INDEX trip_requests_unit_idx ON trip_requests (unit_id, lower(period));
CREATE INDEX trip_requests_requester_idx ON trip_requests (requester_id);
