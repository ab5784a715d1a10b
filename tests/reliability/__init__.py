"""Reliability: faults (kills, NaN losses, out of memory, interrupts) never lose work."""
