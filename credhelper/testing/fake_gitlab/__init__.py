"""A fake GitLab: in-memory model (state), GitLab's token rules (auth),
Git smart HTTP through ``git http-backend`` (git_http), the token REST API
and OAuth endpoints (api) with GitLab's DPoP check for personal access
tokens (dpop), the container registry token service
``/jwt/auth`` (registry_auth), the package registries (packages), test faults (faults), a route table (web) and
threaded TLS listeners (httpd, server).
"""

from credhelper.testing.fake_gitlab.api import GitLabAPI
from credhelper.testing.fake_gitlab.auth import Denial, Identity
from credhelper.testing.fake_gitlab.dpop import DPoPProof, DPoPRejection, DPoPVerifier
from credhelper.testing.fake_gitlab.faults import Fault, Faults
from credhelper.testing.fake_gitlab.packages import PackageRegistry
from credhelper.testing.fake_gitlab.records import RequestLog, RequestRecord
from credhelper.testing.fake_gitlab.registry_auth import IssuedToken, RegistryAuth
from credhelper.testing.fake_gitlab.server import FakeGitLab
from credhelper.testing.fake_gitlab.state import (
    ACCESS_LEVELS,
    GitLabState,
    OAuthApplication,
    Package,
    PackageFile,
    Project,
    SSHKey,
    Token,
    User,
    ssh_fingerprint,
)
from credhelper.testing.fake_gitlab.web import Request, Response, Router

__all__ = [
    "ACCESS_LEVELS",
    "DPoPProof",
    "DPoPRejection",
    "DPoPVerifier",
    "Denial",
    "FakeGitLab",
    "Fault",
    "Faults",
    "GitLabAPI",
    "GitLabState",
    "Identity",
    "IssuedToken",
    "OAuthApplication",
    "Package",
    "PackageFile",
    "PackageRegistry",
    "Project",
    "RegistryAuth",
    "Request",
    "RequestLog",
    "RequestRecord",
    "Response",
    "Router",
    "SSHKey",
    "Token",
    "User",
    "ssh_fingerprint",
]
