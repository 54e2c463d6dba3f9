"""Pure rules: the records every layer shares, host and path matching, which token answers a
request, when a token is checked or rotated, registry and package URL mapping.  No I/O here:
every function is a function of its arguments (a clock is passed in where time matters)."""
