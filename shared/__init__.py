"""Spotcheck shared kernel: settings, db, events, auth, errors, audit, calendar."""
