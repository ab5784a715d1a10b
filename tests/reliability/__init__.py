"""Reliability: bad input, crashes and numerical faults never lose work or end in an unreadable
traceback."""
