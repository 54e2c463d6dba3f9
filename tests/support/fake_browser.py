#!/usr/bin/env python3
"""A stand-in for the person's browser, for `BROWSER=.../fake_browser.py credhelper login`:
python's webbrowser runs it with the authorization URL, and it does what a person does in a
browser signed in to the fake GitLab: open the consent page, press Authorize (or Deny), and
follow the redirect to credhelper's loopback listener.

Told what to do by the environment (it inherits credhelper's, which inherits the test's):
FAKE_BROWSER_ACTION is ``approve`` (default), ``deny``, ``wrong-state`` (the redirect's state
changed, as a forged request would have it) or ``twice`` (the redirect requested a second
time); FAKE_BROWSER_CA the CA file that verifies the fake GitLab; FAKE_BROWSER_LOG a file
where each step appends one JSON line (the test reads what happened there).
Standard library only: it runs under any python3.
"""

import json
import os
import re
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None          # the 302 comes back as an HTTPError: its Location is read


def log(**entry):
    with open(os.environ["FAKE_BROWSER_LOG"], "a") as handle:
        handle.write(json.dumps(entry) + "\n")


def fetch(opener, url, data=None):
    try:
        with opener.open(url, data=data, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def main(url):
    action = os.environ.get("FAKE_BROWSER_ACTION", "approve")
    context = ssl.create_default_context(cafile=os.environ["FAKE_BROWSER_CA"])
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect,
                                         urllib.request.HTTPSHandler(context=context))
    status, _, page = fetch(opener, url)
    log(step="consent", status=status)
    if status != 200:
        return 1
    form = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', page.split("</form>")[0]))
    if action == "deny":
        form["_method"] = "delete"
    parts = urllib.parse.urlsplit(url)
    status, headers, _ = fetch(opener, "%s://%s/oauth/authorize" % (parts.scheme, parts.netloc),
                               urllib.parse.urlencode(form).encode())
    location = headers.get("Location", "")
    log(step="decision", status=status, location_host=urllib.parse.urlsplit(location).netloc)
    if action == "wrong-state":
        location = re.sub(r"state=[^&]*", "state=forged", location)
    for attempt in range(2 if action == "twice" else 1):
        try:
            status, _, _ = fetch(opener, location)
            log(step="callback", attempt=attempt, status=status)
        except (urllib.error.URLError, OSError) as error:
            log(step="callback", attempt=attempt, error=type(getattr(error, "reason", error)).__name__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
