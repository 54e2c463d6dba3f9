"""The warm answerer: one long-lived process per user that answers git's fast-path requests
for a shell client, so that a ``get`` starts no Python (README "Speed", issue 15).

``server.py`` is the daemon, ``client.py`` writes the bash client install.sh installs as
``git-credential-gitlab``.  Both sides and the wire are described in ``server.py``.
"""
