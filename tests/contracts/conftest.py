"""One sandbox (HTTP + HTTPS on loopback) for the contract suite, and each CRM's official SDK pointed at it."""
from __future__ import annotations

import pytest
import requests

from sandbox.config import SandboxConfig
from sandbox.server import SandboxServer
from tests.contracts.answers import HubSpotCalls


@pytest.fixture(scope="session")
def contract_sandbox(tmp_path_factory):
    server = SandboxServer(port=0, tls_port=0, cert_dir=str(tmp_path_factory.mktemp("contract-tls")),
                           config=SandboxConfig(seed=11)).start()
    yield server
    server.stop()


@pytest.fixture()
def sandbox(contract_sandbox):
    """The running sandbox with its default config (a test that lowers a limit gets it back after)."""
    contract_sandbox.sandbox.config.reset()
    yield contract_sandbox
    contract_sandbox.sandbox.config.reset()


def control(server: SandboxServer) -> requests.Session:
    http = requests.Session()
    http.trust_env = False
    http.verify = server.sandbox.ca_file
    return http


def new_account(server: SandboxServer, platform: str, seed: str | None = "demo") -> dict:
    """A fresh account through the control API: account_id, access_token, api_base."""
    body = {"platform": platform, "name": f"{platform} contract", "users": []}
    if seed:
        body["seed"] = seed
    resp = control(server).post(f"{server.url}/_sandbox/accounts", json=body, timeout=10)
    resp.raise_for_status()
    return resp.json()


def set_limits(server: SandboxServer, platform: str, **limits) -> None:
    control(server).post(f"{server.url}/_sandbox/config", json={"limits": {platform: limits}},
                         timeout=10).raise_for_status()


# HubSpot ------------------------------------------------------------------------------------------
@pytest.fixture()
def hubspot_account(sandbox) -> dict:
    return new_account(sandbox, "hubspot")


@pytest.fixture()
def hubspot_sdk(sandbox, hubspot_account):
    from hubspot import HubSpot

    # as HubSpotClient builds it: the tenant's API base as host, one HTTP attempt per call
    return HubSpot(access_token=hubspot_account["access_token"], host=hubspot_account["api_base"].rstrip("/"),
                   retry=False, ssl_ca_cert=sandbox.sandbox.ca_file)


@pytest.fixture()
def hs(sandbox, hubspot_account) -> HubSpotCalls:
    return HubSpotCalls(f"{sandbox.url}/_sandbox/accounts/{hubspot_account['account_id']}/calls")


# Pipedrive ----------------------------------------------------------------------------------------
@pytest.fixture()
def pipedrive_account(sandbox) -> dict:
    return new_account(sandbox, "pipedrive")


@pytest.fixture()
def pipedrive_sdk(sandbox, pipedrive_account):
    from pipedrive.client import Client

    base = pipedrive_account["api_base"].rstrip("/")
    sdk = Client(domain=f"{base}/api/")  # as PipedriveClient builds it: BASE_URL = <api_domain>/api/v1/
    sdk.set_access_token(pipedrive_account["access_token"])
    sdk.v2 = f"{base}/api/v2/"  # v2 calls go through the SDK's request layer with absolute URLs
    sdk.verify = sandbox.sandbox.ca_file
    return sdk


# Salesforce ---------------------------------------------------------------------------------------
@pytest.fixture()
def salesforce_account(sandbox) -> dict:
    return new_account(sandbox, "salesforce")


@pytest.fixture()
def sf_session(sandbox) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = sandbox.sandbox.ca_file
    return session


@pytest.fixture()
def salesforce_sdk(salesforce_account, sf_session):
    from simple_salesforce import Salesforce

    # as adapters/salesforce/client.build_salesforce does: the access token is the session id
    return Salesforce(instance_url=salesforce_account["api_base"], session_id=salesforce_account["access_token"],
                      session=sf_session, version="59.0")
