"""docs/quickstart.md stays true: its ```sh blocks, run in order in one bash session against a
fresh `tollway serve`, take the manual's scenario from a business plan to an invoice.

Only the ports change: the control plane's 9443, the gateway's 8280 and 8243, and the backend's
8000 (the doc starts `python3 -m http.server 8000`; here the tests' pizza backend, which also
answers /menu with 200 and anything else with 404). Blocks right after the marker comment (the
ones that start servers) are not run. Everything else, shell variables included, runs as written.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.monetization.served import pizza_backend, tollway_serve
from tollway.runtime import Runtime

DOC = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"
NOT_RUN = "<!-- not run by the quickstart test -->"
PORTS = {"9443": "https_port", "8280": "gateway_port", "8243": "gateway_https_port"}
BACKEND = "http://127.0.0.1:8000"
BLOCK = re.compile(r"\n@@block (\d+)@@\n")
# Before a block that calls the gateway: wait until the gateway has loaded the application's
# token (it polls for changes every 0.1 s; a reader types slower than bash runs). The probe's
# path answers 404 from the backend: recorded, never billed, so the invoice is not changed.
GATEWAY_READY = """
__gateway_ready() {
  for _ in $(seq 150); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $APP_TOKEN" \\
      "http://localhost:GATEWAY_PORT/pizzashack/1.0.0/__probe" || true)
    [ "$code" = 404 ] && return 0
    sleep 0.1
  done
  echo "the gateway did not take the application's token" >&2
  return 1
}
"""


def sh_blocks() -> list[tuple[str, bool]]:
    """Every ```sh block of the doc, in order, with whether the test runs it."""
    blocks: list[tuple[str, bool]] = []
    previous = ""
    lines = iter(DOC.read_text(encoding="utf-8").splitlines())
    for line in lines:
        if line.strip() == "```sh":
            body = []
            for inner in lines:
                if inner.strip() == "```":
                    break
                body.append(inner)
            blocks.append(("\n".join(body), previous != NOT_RUN))
        if line.strip():
            previous = line.strip()
    return blocks


def run_blocks() -> list[str]:
    return [body for body, run in sh_blocks() if run]


def outputs(stdout: str) -> dict[int, str]:
    parts = BLOCK.split(stdout)
    return {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def json_values(text: str) -> list[Any]:
    """The JSON documents curl printed one after the other (without newlines between them)."""
    decoder, at = json.JSONDecoder(), 0
    found: list[Any] = []
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return found
        value, at = decoder.raw_decode(text, at)
        found.append(value)


def block_with(blocks: list[str], *needles: str) -> int:
    hits = [i for i, body in enumerate(blocks) if all(needle in body for needle in needles)]
    assert len(hits) == 1, f"expected one block with {needles}, found {len(hits)}"
    return hits[0]


def test_the_quickstart_starts_tollway_and_a_backend_and_runs_every_step() -> None:
    skipped = [body for body, run in sh_blocks() if not run]
    assert any("tollway serve" in body for body in skipped)
    assert any("http.server 8000" in body for body in skipped)
    script = "\n".join(run_blocks())
    for path in (
        "/client-registration/v0.17/register",
        "/oauth2/token",
        "/scim2/Users",
        "/api/identity/user/v1.0/me",
        "/api/am/admin/v1/throttling/policies/subscription",
        "/api/am/publisher/v1/apis",
        "/api/am/publisher/v1/apis/change-lifecycle",
        "/monetize",
        "/api/am/store/v1/applications",
        "/api/am/store/v1/subscriptions",
        "/generate-keys",
        "http://localhost:8280/pizzashack/1.0.0/",
        "https://localhost:8243/pizzashack/1.0.0/",
        "/api/am/admin/v1/monetization/publish-usage",
        "/api/am/admin/v1/monetization/publish-usage/status",
        "/usage",
        "/revenue",
    ):
        assert path in script, path


def test_the_quickstart_runs_as_written_and_bills_the_calls_it_makes(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    blocks = run_blocks()
    # A fresh `tollway serve`: no monetization attributes (the helper declares Stripe's).
    fresh = {"TOLLWAY_MONETIZATION__ADDITIONAL_ATTRIBUTES": "[]"}
    with pizza_backend() as backend, tollway_serve(database_url, tmp_path / "data", **fresh) as served:
        ports = {
            "https_port": served.https_port,
            "gateway_port": int(served.gateway.rsplit(":", 1)[1]),
            "gateway_https_port": int(served.gateway_https.rsplit(":", 1)[1]),
        }

        def localized(text: str) -> str:
            for port, name in PORTS.items():
                text = text.replace(f"localhost:{port}", f"localhost:{ports[name]}")
            return text.replace(BACKEND, backend)

        parts = ["set -euo pipefail", localized(GATEWAY_READY.replace("GATEWAY_PORT", "8280"))]
        for number, body in enumerate(blocks):
            parts.append(f"printf '\\n@@block {number}@@\\n'")
            if "localhost:8280" in body or "localhost:8243" in body:
                parts.append("__gateway_ready")
            parts.append(localized(body))
        parts.append(f"printf '\\n@@block {len(blocks)}@@\\n'")  # the end
        script = "\n".join(parts) + "\n"
        for port in (*PORTS, "8000"):
            assert f":{port}" not in script, port
        environ = {**os.environ, "NO_PROXY": "localhost,127.0.0.1", "no_proxy": "localhost,127.0.0.1"}
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    printed = outputs(done.stdout)
    last = max(printed, default=-1)
    assert done.returncode == 0, (
        f"block {last} failed:\n{blocks[last] if 0 <= last < len(blocks) else ''}\n--- stderr\n{done.stderr}"
        f"\n--- its output\n{printed.get(last, '')}"
    )
    assert last == len(blocks), "the script stopped before its end"

    # The calls: ten answered by the backend (nine over HTTP, one over HTTPS), then a 401 and a 404.
    calls = block_with(blocks, "for i in 1 2 3 4 5 6 7 8 9")
    assert json_values(printed[calls]) == [{"pizzas": ["margherita", "diavola"]}] * 10
    refused = block_with(blocks, "no-such-page")
    assert printed[refused].split() == ["401", "404"]

    status = json_values(printed[block_with(blocks, "publish-usage/status", "until")])
    assert status[-1]["state"] == "COMPLETED" and status[-1]["status"] == "SUCCESSFUL"

    # What the subscriber sees: the ten billable calls at 0.01 USD, nothing else.
    (usage,) = json_values(printed[block_with(blocks, "$DEV_TOKEN", "subscriptions/$SUB_ID/usage")])
    assert usage["properties"]["Billable Requests"] == "10"
    assert usage["properties"]["Total"] == "0.10"
    invoice = usage["invoice"]
    assert [(line["quantity"], line["unitAmount"], line["amount"]) for line in invoice["lines"]] == [
        (10, "0.01", "0.10")
    ]
    assert (invoice["currency"], invoice["total"], invoice["status"]) == ("USD", "0.10", "draft")

    # What the publisher sees: the subscription, the same invoice, the revenue.
    listed, publisher_view, revenue = json_values(printed[block_with(blocks, "$PUBLISHER_TOKEN", "/revenue")])
    (subscription,) = listed["list"]
    assert subscription["applicationInfo"] == {
        "applicationId": subscription["applicationInfo"]["applicationId"],
        "name": "PizzaApp",
        "subscriber": "subscriber1",
    }
    assert publisher_view["invoice"] == invoice
    paid = subscription["subscriptionId"]
    assert revenue["properties"] == {paid: "0.10", "total": "0.10", "currency": "USD"}


@pytest.mark.parametrize("name", ["deployment.md", "rest-api.md", "quickstart.md"])
def test_the_readme_links_the_page(name: str) -> None:
    readme = (DOC.parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"docs/{name}" in readme
