"""Test doubles for credhelper: a private TLS CA and a fake GitLab server.

The fake GitLab speaks real Git over HTTPS (through ``git http-backend``) and
judges tokens the way GitLab does, so the helpers can be tested end to end
with the real git client and no network.  Plain Python API, no pytest needed::

    from credhelper.testing import FakeGitLab, TestCA
"""

from credhelper.testing.fake_gitlab import FakeGitLab, GitLabState
from credhelper.selftest.tls import TestCA

__all__ = ["FakeGitLab", "GitLabState", "TestCA"]
