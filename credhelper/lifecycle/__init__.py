"""Keeping a token good: checks with the server, self-rotation and OAuth refresh through one
durable journal, and recovery of an interrupted rotation.  Decisions come from
``rules.freshness``; I/O goes through the narrow interfaces the keeper is given."""
