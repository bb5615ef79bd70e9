"""Finding 9: the SSRF guard read hosts with urlsplit, while requests connects where urllib3 reads the host.

`https://127.0.0.1\\.my.salesforce.com/` passed (urlsplit: host "127.0.0.1\\.my.salesforce.com", matching
*.salesforce.com; urllib3: host 127.0.0.1). The guard now refuses anything outside plain RFC 3986 and checks
that both parsers agree on a DNS name on the default port.
"""
from __future__ import annotations

import pytest

from oauth.base import DisallowedHost
from oauth.pipedrive import PipedriveOAuth
from oauth.salesforce import SalesforceOAuth

HOSTILE_SALESFORCE = [
    "https://127.0.0.1\\.my.salesforce.com/",          # the finding: urllib3 connects to 127.0.0.1
    "https://evil.example\\@acme.my.salesforce.com/",
    "https://acme.my.salesforce.com@127.0.0.1/",        # userinfo: the host is 127.0.0.1
    "https://admin:pw@acme.my.salesforce.com/",
    "https://127.0.0.1%5c.my.salesforce.com/",          # escapes in the host: %5c = \, %2e = .
    "https://acme.my.salesforce.com%2e/",
    "https://169.254.169.254%2f.salesforce.com/",
    "https://acme.my.salesforce.com%zz/",
    "https://127.0.0.1\t.my.salesforce.com/",           # whitespace and controls, which urlsplit drops
    "https://acme.my.salesforce.com\n",
    " https://acme.my.salesforce.com/",
    "https://acme.my.salesforce.com\x00.evil.example/",
    "https://acme.my.salesforce.com\u3002evil.example/",  # IDNA maps the ideographic full stop to "."
    "https://[::1]/",                                   # IP literals
    "https://[::ffff:127.0.0.1]/",
    "https://169.254.169.254/",
    "https://2130706433/",
    "https://0x7f.1/",
    "https://acme.my.salesforce.com./",                 # trailing-dot and label tricks
    "https://acme.my.salesforce.com../",
    "https://-acme.my.salesforce.com/",
    "https://acme..my.salesforce.com/",
    "https://acme.my.salesforce.com.evil.example/",     # look-alikes
    "https://salesforce.com.evil.example/",
    "https://evil.example#.salesforce.com",
    "https://evil.example?.my.salesforce.com",
    "https://acme.my.salesforce.com:8443/",             # ports
    "https://acme.my.salesforce.com:0/",
    "https://acme.my.salesforce.com:99999/",
    "https://acme.my.salesforce.com:443x/",
    "http://acme.my.salesforce.com/",                   # scheme
    "//acme.my.salesforce.com/",
    "https:///acme.my.salesforce.com/",
    "",
]
LEGIT_SALESFORCE = [
    "https://acme.my.salesforce.com",
    "https://acme.my.salesforce.com/",
    "https://ACME.My.Salesforce.com/services/data/v59.0/query?q=SELECT%20Id%20FROM%20User",
    "https://acme--uat.sandbox.my.salesforce.com/",
    "https://login.salesforce.com/id/00D8d0000000001AAA/0058d0000000001AAA",
    "https://acme.lightning.force.com",
    "https://acme.my.salesforce.com:443/",
]


@pytest.fixture(autouse=True)
def no_sandbox(monkeypatch):
    for name in ("LEADRELAY_SANDBOX_URL", "SALESFORCE_ALLOWED_HOSTS", "PIPEDRIVE_ALLOWED_HOSTS"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("url", HOSTILE_SALESFORCE)
def test_hostile_salesforce_urls_are_refused(url):
    with pytest.raises(DisallowedHost):
        SalesforceOAuth().check_host(url)


@pytest.mark.parametrize("url", LEGIT_SALESFORCE)
def test_salesforce_instance_urls_pass(url):
    assert SalesforceOAuth().check_host(url) == url


@pytest.mark.parametrize("url", ["https://evil.example\\.pipedrive.com/", "https://pipedrive.com.evil.example/",
                                 "https://api-xyz.pipedrive.com@evil.example/", "https://10.0.0.7/",
                                 "https://api-xyz.pipedrive.com:8080/", "https://api-xyz.pipedrive.com%2e/",
                                 "https://api-xyz.pipedrive.com./", None, 42])
def test_hostile_pipedrive_api_domains_are_refused(url):
    with pytest.raises(DisallowedHost):
        PipedriveOAuth().check_host(url)


@pytest.mark.parametrize("url", ["https://api-xyz.pipedrive.com", "https://acme-13000001.pipedrive.com/"])
def test_pipedrive_api_domains_pass(url):
    assert PipedriveOAuth().check_host(url) == url


def test_only_the_sandbox_origin_itself_is_exempt(monkeypatch):
    monkeypatch.setenv("LEADRELAY_SANDBOX_URL", "https://127.0.0.1:8701")
    provider = SalesforceOAuth()
    assert provider.check_host("https://127.0.0.1:8701/id/00D/005") == "https://127.0.0.1:8701/id/00D/005"
    for url in ("https://127.0.0.1:8702/", "https://127.0.0.1/", "https://127.0.0.1:8701\\@evil.example/",
                "https://evil.example@127.0.0.1:8701/"):
        with pytest.raises(DisallowedHost):
            provider.check_host(url)
