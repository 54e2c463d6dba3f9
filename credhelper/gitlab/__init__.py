"""Talking to GitLab: the narrow API client (client.py).  Imported only when a network call is
really needed, because ``requests`` alone costs ~175 ms to import."""
