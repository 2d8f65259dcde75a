"""One module per kind of work: signing in, the start page, legal's review, comms' campaigns and
incidents, support's look-ups and replies, admin's users and audit log."""
