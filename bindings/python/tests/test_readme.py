"""Every ```python block of bindings/python/README.md and of the
repository's README.md runs, from the repository root, so the documented API cannot rot. The one block that
needs an HTTPS key server on the internet runs with fetch_keys replaced by
a stand-in that binds its arguments to the real function's signature (so a
renamed or removed parameter fails here) and reads the sample document.
The client's blocks run against the session's kvitto-server on 127.0.0.1,
given to them as a user gives it: KVITTO_URL, KVITTO_API_KEY and
KVITTO_KEYS_PIN in the environment."""

import contextlib
import inspect
import io
import os
import re

import pytest

import kvitto
from conftest import ROOT

README = ROOT / "bindings" / "python" / "README.md"
BLOCKS = [
    block
    for readme in (README, ROOT / "README.md")
    for block in re.findall(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
]


def test_readme_has_examples():
    assert len(BLOCKS) >= 10
    client_blocks = [b for b in BLOCKS if "kvitto.Client(" in b or "kvitto.AsyncClient(" in b]
    assert len(client_blocks) >= 4
    quick = client_blocks[0]
    for needed in ("identifiers.from_email", "authorizations.create", "DeniedError", "ConfirmationRequired",
                   "EscalationRequired", "confirmations.approve", "escalations.resolve", "budget",
                   "authorizations.revoke", "receipts.export", "verify=True"):
        assert needed in quick, needed


@pytest.mark.parametrize("n", range(len(BLOCKS)))
def test_readme_block_runs(n, monkeypatch, request):
    code = BLOCKS[n]
    if "KVITTO_URL" in code:
        server = request.getfixturevalue("kvserver")
        monkeypatch.setenv("KVITTO_URL", server.base)
        monkeypatch.setenv("KVITTO_API_KEY", server.api_key)
        monkeypatch.setenv("KVITTO_KEYS_PIN", server.pin())
    real = kvitto.fetch_keys
    calls = []

    def fetch_keys(*args, **kwargs):
        inspect.signature(real).bind(*args, **kwargs)
        calls.append((args, kwargs))
        return kvitto.KeySet.from_file(ROOT / "test-vectors/sample/keys.json")

    networked = "https://keys.example.com" in code
    if networked:
        monkeypatch.setattr(kvitto, "fetch_keys", fetch_keys)
    cwd = os.getcwd()
    os.chdir(ROOT)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"README.md block {n}", "exec"), {"__name__": "readme"})
    finally:
        os.chdir(cwd)
    if networked:
        assert calls, "the block calls fetch_keys"
    assert "Traceback" not in out.getvalue()
