"""What customers read: the incident's facts and the legal content model (data, not code), gettext
catalogs with their fallback chain, sandboxed rendering of every part of a notice, SMS segments, the
linter, proof sheets, and approval by content hash (four eyes)."""
