"""A fake GitLab: in-memory model (state), GitLab's token rules (auth),
Git smart HTTP through ``git http-backend`` (git_http), a route table (web)
and threaded TLS listeners (httpd, server).
"""

from .auth import Denial, Identity
from .records import RequestLog, RequestRecord
from .server import FakeGitLab
from .state import ACCESS_LEVELS, GitLabState, Project, Token, User
from .web import Request, Response, Router

__all__ = [
    "ACCESS_LEVELS",
    "Denial",
    "FakeGitLab",
    "GitLabState",
    "Identity",
    "Project",
    "Request",
    "RequestLog",
    "RequestRecord",
    "Response",
    "Router",
    "Token",
    "User",
]
