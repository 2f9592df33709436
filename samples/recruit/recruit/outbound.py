"""Outbound HTTP calls the submit view makes synchronously (notification, PDF and HR services;
stub_services.py answers them on loopback). Traced by the requests instrumentation."""

import requests
from django.conf import settings

NOTIFICATION_CHANNELS = ("email-candidate", "email-recruiter", "sms-candidate", "chat-hiring-team")
HR_SYSTEMS = ("people-directory", "payroll")

# One pooled session: the slowness being reproduced is the serial calls, not TCP set-up.
_session = requests.Session()


def _post(path: str, **kwargs) -> None:
    response = _session.post(f"{settings.RECRUIT_STUB_URL}{path}", timeout=5, **kwargs)
    response.raise_for_status()


def notify(channel: str, payload: dict) -> None:
    _post(f"/notify/{channel}", json=payload)


def render_pdf(html: str) -> None:
    _post("/pdf/receipt", data=html.encode(), headers={"Content-Type": "text/html"})


def push_to_hr(system: str, payload: dict) -> None:
    _post(f"/hr/{system}", json=payload)
