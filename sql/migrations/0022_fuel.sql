-- 0022: fuel-card reconciliation (加油卡核对). The oil companies' card
-- statements are imported as they are issued, the stations with their
-- coordinates, the cards bound to vehicles as a history (like terminals),
-- and each vehicle's tank and consumption norm; matching the fills against
-- the tracks yields leads (线索), verified as alerts are.

-- The station list: one row per station name as the statements write it
-- (WGS-84, as the terminals report).
CREATE TABLE fuel_stations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name <> ''),
    lat        double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon        double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- What a vehicle holds and burns: the tank's capacity and the norm
-- (L/100 km) the fills are judged against. A vehicle without a row is
-- judged only by place and time.
CREATE TABLE fuel_vehicle_specs (
    vehicle_id    bigint PRIMARY KEY REFERENCES vehicles(id) ON DELETE CASCADE,
    tank_l        double precision NOT NULL CHECK (tank_l > 0 AND tank_l <= 2000),
    norm_l_100km  double precision NOT NULL CHECK (norm_l_100km > 0 AND norm_l_100km <= 200),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Cards bound to vehicles, a history: a card belongs to one vehicle on
-- [valid_from, valid_to) (valid_to NULL: still), and is never bound to two
-- at once (the API closes the open binding before it opens the next).
CREATE TABLE fuel_cards (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    card_no    text NOT NULL CHECK (card_no ~ '^[0-9A-Za-z]{4,32}$'),
    vehicle_id bigint NOT NULL REFERENCES vehicles(id),
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE UNIQUE INDEX fuel_cards_open_idx ON fuel_cards (card_no) WHERE valid_to IS NULL;
CREATE INDEX fuel_cards_card_idx ON fuel_cards (card_no, valid_from);
CREATE INDEX fuel_cards_vehicle_idx ON fuel_cards (vehicle_id);

-- The card transactions as the statements list them. A statement imported
-- again adds nothing: a fill is the same fill when its card, time, station,
-- product, litres and amount are.
CREATE TABLE fuel_fills (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    card_no     text NOT NULL,
    filled_at   timestamptz NOT NULL,
    station     text NOT NULL,
    product     text NOT NULL DEFAULT '',
    litres      numeric(9,2) NOT NULL CHECK (litres > 0),
    amount      numeric(12,2) NOT NULL CHECK (amount >= 0),
    imported_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (card_no, filled_at, station, product, litres, amount)
);
CREATE INDEX fuel_fills_time_idx ON fuel_fills (filled_at);

-- The leads matching found: one per fill and kind of mismatch, with its
-- figures and the track excerpt at the fill time. Matching again updates
-- the evidence of a lead and never its verification; a lead that no longer
-- holds is removed only while nobody has worked on it.
CREATE TABLE fuel_leads (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fill_id      bigint NOT NULL REFERENCES fuel_fills(id),
    kind         text NOT NULL CHECK (kind IN ('away', 'no_track', 'unknown_station', 'over_tank', 'over_distance', 'holiday', 'after_hours')),
    vehicle_id   bigint NOT NULL REFERENCES vehicles(id),
    figures      jsonb NOT NULL,
    excerpt      jsonb NOT NULL,
    verification text NOT NULL DEFAULT 'open'
                 CHECK (verification IN ('open', 'explanation_requested', 'confirmed', 'dismissed')),
    found_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (fill_id, kind)
);
CREATE INDEX fuel_leads_vehicle_idx ON fuel_leads (vehicle_id);
