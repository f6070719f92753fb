"""The web console (ai-architect-mcp --console) in a real browser: Debian's Chromium, driven by
Playwright (never a downloaded browser), against a cluster of its own whose TCP logins need a
password (SCRAM), with the Chinook sample. Screenshots of each page go to target/console/.

Environment (set by scripts/test.sh): AI_PGBIN, AI_MCP_BIN, AI_ROOT.
"""

import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from playwright.sync_api import sync_playwright, expect

PGBIN = os.environ["AI_PGBIN"]
MCP_BIN = os.environ["AI_MCP_BIN"]
ROOT = os.environ["AI_ROOT"]
PGPORT = 28829
DB = "shop"
DATA = os.path.join(ROOT, "target", "console-pg")
SHOTS = os.path.join(ROOT, "target", "console")
ALICE, BOB = "console_alice", "console_bob"
PASSWORDS = {ALICE: "alice-secret-1", BOB: "bob-secret-2"}
CHROMIUM = "/usr/bin/chromium"


def as_postgres(*args, **kw):
    return subprocess.run(["sudo", "-u", "postgres", "--", *args], capture_output=True, text=True, **kw)


def psql(sql, db=DB):
    out = as_postgres(f"{PGBIN}/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                      "-h", DATA, "-p", str(PGPORT), "-U", "postgres", "-d", db, "-c", sql)
    assert out.returncode == 0, f"{sql}: {out.stderr}"
    return out.stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    as_postgres(f"{PGBIN}/pg_ctl", "-D", DATA, "-m", "immediate", "stop")
    shutil.rmtree(DATA, ignore_errors=True)
    os.makedirs(DATA, mode=0o700)
    shutil.chown(DATA, "postgres", "postgres")
    out = as_postgres(f"{PGBIN}/initdb", "-D", DATA, "-U", "postgres", "--auth-local=trust",
                      "--auth-host=scram-sha-256")
    assert out.returncode == 0, out.stderr
    with open(os.path.join(DATA, "postgresql.conf"), "a") as f:
        f.write(f"\nport = {PGPORT}\nunix_socket_directories = '{DATA}'\nlisten_addresses = '127.0.0.1'\nfsync = off\n")
    out = as_postgres(f"{PGBIN}/pg_ctl", "-D", DATA, "-l", f"{DATA}/server.log", "-w", "start")
    assert out.returncode == 0, out.stderr
    psql(f"CREATE DATABASE {DB}", db="postgres")
    chinook = open(os.path.join(ROOT, "data", "chinook", "Chinook_PostgreSql.sql")).read()
    chinook = chinook.split("\\c chinook;", 1)[1]
    load = as_postgres(f"{PGBIN}/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", DATA, "-p", str(PGPORT),
                       "-U", "postgres", "-d", DB, input=chinook)
    assert load.returncode == 0, load.stderr[-2000:]
    psql(f"""CREATE EXTENSION ai_architect CASCADE;
             CREATE ROLE {ALICE} LOGIN PASSWORD '{PASSWORDS[ALICE]}';
             CREATE ROLE {BOB} LOGIN PASSWORD '{PASSWORDS[BOB]}';
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {ALICE};
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO {BOB};
             -- an administrator lets both read the audit trail
             GRANT EXECUTE ON FUNCTION ai.verify_audit(), ai.audit_entries(text, integer, bigint) TO {ALICE}, {BOB};
             UPDATE ai.approval_policy SET required_approvals = 1, approver_role = NULL;
             SELECT count(*) FROM ai.refresh_catalog();""")
    yield
    as_postgres(f"{PGBIN}/pg_ctl", "-D", DATA, "-m", "immediate", "-w", "stop")
    shutil.rmtree(DATA, ignore_errors=True)


@pytest.fixture(scope="module")
def console(cluster):
    port = free_port()
    proc = subprocess.Popen(
        [MCP_BIN, "--console", str(port), "--dsn", f"host=127.0.0.1 port={PGPORT} dbname={DB} sslmode=disable"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/login", timeout=1)
            break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    os.makedirs(SHOTS, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def shot(page, name):
    page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def login(browser, url, user, password=None):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(f"{url}/login")
    page.fill("[data-test=user]", user)
    page.fill("[data-test=password]", password or PASSWORDS[user])
    page.click("[data-test=login]")
    return page


def test_ask_request_approve_execute_rollback_audit(console, browser):
    deleted_before = int(psql("SELECT count(*) FROM invoice_line WHERE invoice_id = 5"))
    assert deleted_before > 0
    germany = psql("SELECT count(*) FROM customer WHERE country = 'Germany'")

    # alice asks in plain words and sees the right rows
    alice = login(browser, console, ALICE)
    expect(alice.locator("[data-test=user-name]")).to_have_text(ALICE)
    alice.fill("[data-test=question]", "How many customers are there in Germany?")
    alice.click("[data-test=send]")
    expect(alice.locator("[data-test=answer]").first).to_be_visible()
    assert alice.locator("[data-test=answer] td").first.inner_text() == germany
    expect(alice.locator("[data-test=sql]").first).to_contain_text("customer")
    # categories and a number: a chart, drawn on the server
    alice.fill("[data-test=question]", "How many customers are there in each country?")
    alice.click("[data-test=send]")
    expect(alice.locator("[data-test=chart]").first).to_be_visible()
    assert alice.locator("[data-test=chart] rect").count() == int(psql("SELECT count(DISTINCT country) FROM customer"))
    shot(alice, "ask")
    alice.locator("[data-test=feedback-good]").first.click()
    expect(alice.locator("[data-test=feedback-saved]")).to_be_visible()

    # alice files a DELETE and cannot approve it herself
    alice.click("[data-test=nav-approvals]")
    alice.fill("[data-test=request-sql]", "DELETE FROM invoice_line WHERE invoice_id = 5")
    alice.fill("[data-test=request-reason]", "a duplicated invoice")
    alice.click("[data-test=file-request]")
    expect(alice.locator("[data-test=state]")).to_have_text("pending")
    request_id = int(re.search(r"/approvals/(\d+)$", alice.url).group(1))
    expect(alice.locator("[data-test=own-request]")).to_be_visible()
    assert alice.locator("[data-test=approve]").count() == 0
    # forced anyway (the form posted by hand, with her own valid CSRF token): the database
    # refuses, and the page says why
    csrf = alice.locator("input[name=csrf]").first.get_attribute("value")
    forced = alice.request.post(f"{console}/approvals/{request_id}/approve", form={"csrf": csrf})
    assert forced.status == 200
    assert "is yours: the requester never approves" in forced.text()
    assert psql(f"SELECT state FROM ai.approval_requests WHERE id = {request_id}") == "pending"

    # bob sees the impact and approves
    bob = login(browser, console, BOB)
    bob.click("[data-test=nav-approvals]")
    bob.click(f"[data-test=request-{request_id}] a")
    expect(bob.locator("[data-test=impact]")).to_contain_text("invoice_line")
    shot(bob, "approval")
    bob.fill("[data-test=comment]", "checked with accounting")
    bob.click("[data-test=approve]")
    expect(bob.locator("[data-test=state]")).to_have_text("approved")

    # alice executes: the rows are gone; rollback brings them back
    alice.goto(f"{console}/approvals/{request_id}")
    alice.click("[data-test=execute]")
    expect(alice.locator("[data-test=state]")).to_have_text("executed")
    assert psql("SELECT count(*) FROM invoice_line WHERE invoice_id = 5") == "0"
    alice.click("[data-test=rollback]")
    expect(alice.locator("[data-test=state]")).to_have_text("rolled_back")
    assert int(psql("SELECT count(*) FROM invoice_line WHERE invoice_id = 5")) == deleted_before

    # the audit page says the chain is intact, and filters
    alice.click("[data-test=nav-audit]")
    expect(alice.locator("[data-test=audit-ok]")).to_be_visible()
    shot(alice, "audit")
    alice.fill("[data-test=audit-action]", "approved")
    alice.click("[data-test=audit-filter]")
    rows = alice.locator("[data-test=audit-entries] tbody tr")
    assert rows.count() >= 1
    assert all(rows.nth(i).locator("td").nth(3).inner_text() == "approved" for i in range(rows.count()))

    # the advice page: lint, insights, the diagram drawn by Graphviz
    alice.click("[data-test=nav-advice]")
    expect(alice.locator("[data-test=lint]")).to_be_visible()
    # (the diagram is an image of its own: loaded after the page, drawn once it has come)
    alice.wait_for_function(
        "() => { const i = document.querySelector('[data-test=erd]'); return i !== null && i.complete; }"
    )
    assert alice.locator("[data-test=erd]").evaluate("img => img.naturalWidth") > 100
    shot(alice, "advice")

    alice.click("[data-test=logout]")
    expect(alice.locator("[data-test=login]")).to_be_visible()
    alice.goto(f"{console}/approvals")
    expect(alice.locator("[data-test=login]")).to_be_visible()


def test_a_post_without_csrf_and_a_wrong_password_are_refused(console, browser):
    page = login(browser, console, ALICE)
    expect(page.locator("[data-test=user-name]")).to_have_text(ALICE)
    before = psql("SELECT count(*) FROM ai.approval_requests")
    r = page.request.post(f"{console}/approvals/new", form={"sql": "DELETE FROM invoice_line", "reason": "x"})
    assert r.status == 403 and "CSRF" in r.text()
    assert psql("SELECT count(*) FROM ai.approval_requests") == before
    # a page of another origin cannot post here either
    r = page.request.post(f"{console}/logout", headers={"Origin": "http://evil.example"})
    assert r.status == 403
    bad = login(browser, console, ALICE, password="not-her-password")
    expect(bad.locator("[data-test=login-error]")).to_be_visible()
    expect(bad.locator("[data-test=user-name]")).to_have_count(0)
    shot(bad, "login")
    unknown = login(browser, console, "nobody_here", password="x")
    assert bad.locator("[data-test=login-error]").inner_text() == unknown.locator("[data-test=login-error]").inner_text()


def test_every_page_sends_a_strict_content_security_policy(console):
    with urllib.request.urlopen(f"{console}/login") as r:
        csp = r.headers["Content-Security-Policy"]
        body = r.read().decode()
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert "<script" not in body
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    req = urllib.request.Request(f"{console}/login", headers={"Host": "attacker.example:80"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 403


def test_over_tls_the_session_cookie_is_secure(cluster, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    out = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                          "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    port = free_port()
    proc = subprocess.Popen(
        [MCP_BIN, "--console", str(port), "--cert", str(cert), "--key", str(key),
         "--dsn", f"host=127.0.0.1 port={PGPORT} dbname={DB} sslmode=disable"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        import ssl
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        for _ in range(100):
            try:
                r = urllib.request.urlopen(f"https://127.0.0.1:{port}/login", context=ctx, timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        assert r.status == 200
        assert "Secure" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
        # plain HTTP on the TLS port gets no page
        with pytest.raises(Exception):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2).read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
