"""Reliability: bad input, crashes and numerical faults (issue 12)."""
