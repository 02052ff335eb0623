-- 0014: landmarks, the places an office keeps on its maps so that people
-- can find them by name: hotels, clubs, scenic spots, the unit's own
-- compound. They are not geofences: no rule judges them. A landmark is a
-- point or an area (polygon or multipolygon) in WGS 84, belongs to one
-- unit (seen by that unit's subtree and those above it), and carries a
-- version that every change moves on, as geofences do. Changes are
-- audited in audit_log, in the same transaction.
CREATE TABLE landmarks (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version    integer NOT NULL DEFAULT 1,
    name       text NOT NULL CHECK (name <> '' AND char_length(name) <= 64),
    category   text NOT NULL CHECK (category IN ('hotel', 'club', 'scenic', 'compound', 'other')),
    unit_id    bigint NOT NULL REFERENCES units(id),
    geom       geometry(Geometry, 4326) NOT NULL
               CHECK (GeometryType(geom) IN ('POINT', 'POLYGON', 'MULTIPOLYGON') AND ST_IsValid(geom)),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- One name per unit: an import names its landmarks, and a second
    -- "县委招待所" in the same unit would make a search by name ambiguous.
    UNIQUE (unit_id, name)
);
CREATE INDEX landmarks_geom_idx ON landmarks USING gist (geom);
CREATE INDEX landmarks_unit_idx ON landmarks (unit_id);
