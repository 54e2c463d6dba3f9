"""A fake GitLab: in-memory model (state), GitLab's token rules (auth),
Git smart HTTP through ``git http-backend`` (git_http), the token REST API
and OAuth endpoints (api) with GitLab's DPoP check for personal access
tokens (dpop), the container registry token service
``/jwt/auth`` (registry_auth), the package registries (packages), test faults (faults), a route table (web) and
threaded TLS listeners (httpd, server).

Test code only, not part of the installed package (``credhelper selftest`` runs
against the much smaller credhelper.selftest.server).  The throwaway CA it
serves certificates from is credhelper.selftest.tls.TestCA.
"""

from .api import GitLabAPI
from .auth import Denial, Identity
from .dpop import DPoPProof, DPoPRejection, DPoPVerifier
from .faults import Fault, Faults
from .oauth import OAuthProvider
from .packages import PackageRegistry
from .records import RequestLog, RequestRecord
from .registry_auth import IssuedToken, RegistryAuth
from .server import FakeGitLab
from .state import (
    ACCESS_LEVELS,
    GitLabState,
    OAuthApplication,
    Package,
    PackageFile,
    Project,
    ReuseDetection,
    SSHKey,
    Token,
    User,
    ssh_fingerprint,
)
from .web import Request, Response, Router

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
    "OAuthProvider",
    "Package",
    "PackageFile",
    "PackageRegistry",
    "Project",
    "RegistryAuth",
    "Request",
    "RequestLog",
    "RequestRecord",
    "Response",
    "ReuseDetection",
    "Router",
    "SSHKey",
    "Token",
    "User",
    "ssh_fingerprint",
]
