"""Redis as operators run it: rediss:// with a CA file (a real TLS redis-server and a CA made here), and Sentinel
(a real master, a real sentinel, and a failover to a real replica). Jobs go in through the app's own connection
and are run by a real `leadrelay worker --burst` process reading the same settings."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from integration.admin.diagnostics import probe_status, request_probe
from integration.config import ConfigError, get_settings
from integration.queues import redis_connection
from tests.conftest import ROOT, _free_port

REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed (CI installs it)")


def _sentinel_command() -> list[str] | None:
    # Debian's redis-sentinel is redis-server in sentinel mode; a redis-server binary alone can be one too
    if shutil.which("redis-sentinel"):
        return [shutil.which("redis-sentinel")]
    return [REDIS_SERVER, "--sentinel"] if REDIS_SERVER else None


# certificates --------------------------------------------------------------------------------------------------

def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _certificate(subject: str, key, issuer: str, issuer_key, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        import ipaddress
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _make_ca(directory: Path, name: str) -> tuple[Path, object]:
    key = _key()
    path = directory / f"{name}.pem"
    path.write_bytes(_certificate(name, key, name, key, ca=True).public_bytes(serialization.Encoding.PEM))
    return path, key


# servers --------------------------------------------------------------------------------------------------------

def _wait(check, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except Exception:  # noqa: BLE001 - a server still starting refuses connections
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _start(cmd: list[str], directory: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _plain_server(directory: Path, port: int, *extra: str) -> subprocess.Popen:
    return _start([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(directory), *extra], directory)


@pytest.fixture()
def tls_redis():
    """A redis-server speaking TLS only (its plain port off), its certificate signed by a CA made here."""
    directory = Path(tempfile.mkdtemp(prefix="lr-tls-"))
    ca_path, ca_key = _make_ca(directory, "LeadRelay test CA")
    server_key = _key()
    (directory / "server.key").write_bytes(_pem(server_key))
    (directory / "server.crt").write_bytes(
        _certificate("127.0.0.1", server_key, "LeadRelay test CA", ca_key, ca=False).public_bytes(
            serialization.Encoding.PEM))
    port = _free_port()
    process = _start([REDIS_SERVER, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                      "--tls-cert-file", str(directory / "server.crt"), "--tls-key-file", str(directory / "server.key"),
                      "--tls-ca-cert-file", str(ca_path), "--tls-auth-clients", "no", "--save", "",
                      "--appendonly", "no", "--dir", str(directory)], directory)
    client = Redis(port=port, ssl=True, ssl_ca_certs=str(ca_path))
    _wait(client.ping, "the TLS redis-server")
    yield {"url": f"rediss://127.0.0.1:{port}/0", "ca": ca_path, "directory": directory, "client": client}
    _stop([process])
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture()
def sentinel_redis():
    """A master and one sentinel watching it as `leadrelay`; `add_replica()` starts a replica of the master."""
    command = _sentinel_command()
    if command is None:
        pytest.skip("redis-sentinel is not installed (CI installs it)")
    directory = Path(tempfile.mkdtemp(prefix="lr-sen-"))
    master_port, sentinel_port = _free_port(), _free_port()
    processes = [_plain_server(directory, master_port)]
    _wait(Redis(port=master_port).ping, "the master")
    conf = directory / "sentinel.conf"  # a sentinel rewrites its config file: it must be its own
    conf.write_text(f"port {sentinel_port}\nbind 127.0.0.1\ndir {directory}\n"
                    f"sentinel monitor leadrelay 127.0.0.1 {master_port} 1\n"
                    "sentinel down-after-milliseconds leadrelay 2000\n"
                    "sentinel failover-timeout leadrelay 10000\n")
    processes.append(_start([*command[:1], str(conf), *command[1:]], directory))
    sentinel = Redis(port=sentinel_port, decode_responses=True)
    _wait(lambda: sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "leadrelay"), "the sentinel")

    def add_replica() -> int:
        port = _free_port()
        replica_dir = directory / f"replica-{port}"
        replica_dir.mkdir()
        processes.append(_plain_server(replica_dir, port, "--replicaof", "127.0.0.1", str(master_port)))
        _wait(lambda: Redis(port=port).info("replication").get("master_link_status") == "up", "the replica's sync")
        _wait(lambda: any(int(r["port"]) == port for r in
                          sentinel.execute_command("SENTINEL", "REPLICAS", "leadrelay")), "the sentinel to see it",
              timeout=30)
        return port

    yield {"master_port": master_port, "sentinels": f"127.0.0.1:{sentinel_port}", "sentinel": sentinel,
           "add_replica": add_replica}
    _stop(processes)
    shutil.rmtree(directory, ignore_errors=True)


def _run_worker_process(env: dict[str, str]) -> None:
    """`leadrelay worker --burst` as operators run it: a separate process reading the settings from its environment."""
    result = subprocess.run([sys.executable, "-m", "leadrelay", "worker", "--burst", "--queues", "maintenance"],
                            cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


# TLS ------------------------------------------------------------------------------------------------------------

def test_a_job_enqueued_over_tls_is_run_by_a_worker_over_tls(env, app, monkeypatch, tls_redis):
    settings = {"REDIS_URL": tls_redis["url"], "LEADRELAY_REDIS_CA_FILE": str(tls_redis["ca"])}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    probe = request_probe()
    assert tls_redis["client"].llen("rq:queue:maintenance") == 1  # it went to the TLS server
    _run_worker_process(settings)
    status = probe_status(probe.token)
    assert status["done"] is True and status["worker"]


def test_healthz_tells_the_truth_over_tls(env, monkeypatch, tls_redis):
    from app import create_app

    monkeypatch.setenv("REDIS_URL", tls_redis["url"])
    monkeypatch.setenv("LEADRELAY_REDIS_CA_FILE", str(tls_redis["ca"]))
    body = create_app({"TESTING": True}).test_client().get("/healthz").json
    assert body["status"] == "ok" and body["redis"]["ok"] is True


def test_a_server_certificate_from_another_ca_is_refused_with_a_clear_error(env, monkeypatch, tls_redis):
    from app import create_app

    other_ca, _ = _make_ca(tls_redis["directory"], "Someone else's CA")
    monkeypatch.setenv("REDIS_URL", tls_redis["url"])
    monkeypatch.setenv("LEADRELAY_REDIS_CA_FILE", str(other_ca))
    with pytest.raises(RedisConnectionError, match="certificate verify failed"):
        redis_connection(get_settings()).ping()
    resp = create_app({"TESTING": True}).test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.json["redis"]["ok"] is False and "LEADRELAY_REDIS_CA_FILE" in resp.json["redis"]["hint"]


def test_without_a_ca_file_the_system_store_decides_and_a_private_ca_is_refused(env, monkeypatch, tls_redis):
    monkeypatch.setenv("REDIS_URL", tls_redis["url"])  # verification is on by default: no silent trust
    with pytest.raises(RedisConnectionError, match="certificate verify failed"):
        redis_connection(get_settings()).ping()


def test_tls_and_sentinel_settings_are_checked_when_read(env, monkeypatch, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    monkeypatch.setenv("LEADRELAY_REDIS_CA_FILE", str(ca))
    with pytest.raises(ConfigError, match="rediss://"):
        get_settings()  # a CA file for a plain redis:// URL is a mistake, not a no-op
    monkeypatch.setenv("REDIS_URL", "rediss://redis.example.com:6380/0")
    monkeypatch.setenv("LEADRELAY_REDIS_CA_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="missing.pem"):
        get_settings()
    monkeypatch.delenv("LEADRELAY_REDIS_CA_FILE")
    monkeypatch.setenv("LEADRELAY_REDIS_SENTINELS", "10.0.0.5:26379,10.0.0.6")
    with pytest.raises(ConfigError, match="10.0.0.6"):
        get_settings()
    monkeypatch.setenv("LEADRELAY_REDIS_SENTINELS", "10.0.0.5:26379,[::1]:26379")
    with pytest.raises(ConfigError, match="LEADRELAY_REDIS_SENTINEL_SERVICE"):
        get_settings()
    monkeypatch.setenv("LEADRELAY_REDIS_SENTINEL_SERVICE", "mymaster")
    assert get_settings().redis_sentinels == (("10.0.0.5", 26379), ("::1", 26379))


# Sentinel -------------------------------------------------------------------------------------------------------

def test_a_job_goes_to_the_master_the_sentinel_names_and_follows_a_failover(env, app, monkeypatch, sentinel_redis):
    settings = {"REDIS_URL": "redis://master-named-by-sentinel/0", "LEADRELAY_REDIS_SENTINELS":
                sentinel_redis["sentinels"], "LEADRELAY_REDIS_SENTINEL_SERVICE": "leadrelay"}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    first = request_probe()
    assert Redis(port=sentinel_redis["master_port"]).llen("rq:queue:maintenance") == 1
    _run_worker_process(settings)
    assert probe_status(first.token)["done"] is True

    replica_port = sentinel_redis["add_replica"]()
    sentinel = sentinel_redis["sentinel"]
    # NOGOODSLAVE until the sentinel's next look at the replica (every few seconds) finds it in sync
    _wait(lambda: sentinel.execute_command("SENTINEL", "FAILOVER", "leadrelay"), "the failover to start", timeout=30)
    _wait(lambda: int(sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "leadrelay")[1])
          == replica_port, "the failover", timeout=60)
    _wait(lambda: Redis(port=replica_port).info("replication")["role"] == "master", "the replica's promotion")
    # a manual failover leaves the old master up: the sentinel turns it into a replica (and drops its clients)
    # a few seconds later; until then it still takes writes, as any Sentinel client would find
    _wait(lambda: Redis(port=sentinel_redis["master_port"]).info("replication")["role"] == "slave",
          "the old master's demotion", timeout=60)

    second = request_probe()  # the same process's client, which was connected to the old master
    new_master = Redis(port=replica_port)
    assert new_master.llen("rq:queue:maintenance") == 1
    _run_worker_process(settings)
    assert probe_status(second.token)["done"] is True
    assert new_master.llen("rq:queue:maintenance") == 0


def test_healthz_says_when_no_sentinel_names_a_master(env, monkeypatch, sentinel_redis):
    from app import create_app

    monkeypatch.setenv("LEADRELAY_REDIS_SENTINELS", sentinel_redis["sentinels"])
    monkeypatch.setenv("LEADRELAY_REDIS_SENTINEL_SERVICE", "no-such-service")
    resp = create_app({"TESTING": True}).test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.json["redis"]["ok"] is False and "no-such-service" in resp.json["redis"]["hint"]
