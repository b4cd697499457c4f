-- One key row per sealed event (`nic_store::keys::EventKey`): an append writes a single row for
-- an event's sealed fields, whose own keys are derived from the event's key. `fields` lists the
-- sealed fields in order as JSON (`[[pointer, class], …]`); such a row has `field` and `class`
-- empty. Destroying one field's key splits the row into one row per field first (`keys`), so
-- that the event's key is gone and only the other fields' keys stay. NULL for a field's own row.
ALTER TABLE personal_keys ADD COLUMN fields TEXT;
