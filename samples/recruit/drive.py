#!/usr/bin/env python
"""Drives a fixed, deterministic set of requests against a running recruit app, then asks the app
to export its buffered spans (otel/flush/). Requests run one at a time, in plan order.

Usage: drive.py [--base-url http://127.0.0.1:8000] [--only dashboard,optimised] [--repeat N]
Default plan: 3 dashboard, 3 optimised, 20 webhook, 3 submit, 3 pipeline (after one login).
"""

import argparse
import sys
import time

import requests

PLAN = (("dashboard", 3), ("optimised", 3), ("webhook", 20), ("submit", 3), ("pipeline", 3))
# Webhook events cycle over a few candidates, as a partner's retries and updates do.
WEBHOOK_CANDIDATES = ("ats-00001", "ats-00002", "ats-00003", "ats-00004", "ats-00005")
# The pipeline report is recruiter-002's: one of the big accounts of `seed_demo --large`, whose
# report is slow there (on the normal data set it is one more recruiter, and fast).
PIPELINE_RECRUITER = 2


def wait_until_up(base: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if requests.get(f"{base}/otel/flush/", timeout=2).status_code == 204:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"drive.py: {base} did not come up within {timeout_s:.0f} s")
        time.sleep(0.2)


def run(base: str, plan) -> dict[str, int]:
    user = requests.Session()  # the logged-in recruiter: carries the session and CSRF cookies
    partner = requests.Session()  # the ATS integration: no session
    user.post(f"{base}/login/", timeout=10).raise_for_status()

    def submit(i: int):
        return user.post(
            f"{base}/applications/submit/",
            data={"candidate": f"ats-{10 + i:05d}", "job": str(1 + i)},
            headers={"X-CSRFToken": user.cookies["csrftoken"]},
            timeout=30,
        )

    send = {
        "dashboard": lambda i: user.get(f"{base}/dashboard/", timeout=30),
        "optimised": lambda i: user.get(f"{base}/dashboard/optimised/", timeout=30),
        "webhook": lambda i: partner.post(
            f"{base}/webhooks/ats/",
            json={
                "event": "candidate.updated",
                "candidate_id": WEBHOOK_CANDIDATES[i % len(WEBHOOK_CANDIDATES)],
            },
            timeout=30,
        ),
        "submit": submit,
        "pipeline": lambda i: user.get(
            f"{base}/reports/pipeline/",
            params={"status": "interviewing", "recruiter": PIPELINE_RECRUITER},
            timeout=30,
        ),
    }
    sent = {}
    for name, count in plan:
        for i in range(count):
            response = send[name](i)
            if response.status_code >= 400:
                sys.exit(f"drive.py: {name} #{i + 1}: HTTP {response.status_code}: {response.text[:300]}")
        sent[name] = count
    flushed = requests.get(f"{base}/otel/flush/", timeout=30)
    if flushed.status_code != 204:
        sys.exit(f"drive.py: otel/flush/ answered HTTP {flushed.status_code}")
    return sent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--only", help="comma-separated subset of: " + ",".join(name for name, _ in PLAN))
    parser.add_argument("--repeat", type=int, help="requests per endpoint, instead of the plan's counts")
    args = parser.parse_args()

    plan = list(PLAN)
    if args.only:
        wanted = args.only.split(",")
        unknown = set(wanted) - {name for name, _ in PLAN}
        if unknown:
            parser.error(f"unknown endpoint(s): {', '.join(sorted(unknown))}")
        plan = [(name, count) for name, count in plan if name in wanted]
    if args.repeat is not None:
        plan = [(name, args.repeat) for name, _ in plan]

    base = args.base_url.rstrip("/")
    wait_until_up(base)
    sent = run(base, plan)
    print("drove " + ", ".join(f"{name} x{count}" for name, count in sent.items()))


if __name__ == "__main__":
    main()
