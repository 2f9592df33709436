"""Views of the recruit sample app. Each reproduces one finding of the seed case study; the fix
number in each docstring is the case study's.
"""

import json
from datetime import timedelta

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.db.models import Count, Prefetch
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from recruit import otel, outbound
from recruit.models import Application, Candidate, Interview, Job, Status
from recruit.seed import DEMO_USERNAME, SEED_EPOCH


@csrf_exempt
@require_POST
def login_demo(request):
    """Logs the client in as the demo user, so later requests carry a session (and so do the
    session and auth_user lookups every authenticated Django request does)."""
    user = get_object_or_404(User, username=DEMO_USERNAME)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return JsonResponse({"user": user.username})


@login_required
def dashboard(request):
    """Fix 1, before: the template touches five relations per row, one query each (6 x 50)."""
    apps = Application.objects.filter(user=request.user).order_by("-created")[:50]
    return render(request, "recruit/dashboard.html", {"applications": apps, "optimised": False})


@login_required
def dashboard_optimised(request):
    """Fix 1, after: the case study's queryset, two queries whatever the row count."""
    latest_interview = Interview.objects.order_by("-scheduled_at")
    apps = (
        Application.objects.filter(user=request.user)
        .select_related("candidate", "job__company", "status")
        .prefetch_related(Prefetch("interviews", queryset=latest_interview, to_attr="_recent_interviews"))
        .annotate(notes_count=Count("notes"))
        .order_by("-created")[:50]
    )
    return render(request, "recruit/dashboard.html", {"applications": apps, "optimised": True})


@csrf_exempt
@require_POST
def ats_webhook(request):
    """Fix 4, before: the ATS partner's events look the candidate up by external id every time,
    the same read in every request (the fix caches it)."""
    event = json.loads(request.body)
    candidate = get_object_or_404(Candidate, external_id=event["candidate_id"])
    return JsonResponse({"candidate": candidate.pk, "event": event.get("event", "")})


@login_required
@require_POST
def submit_application(request):
    """Fix 5, before: after saving, four notifications, a PDF receipt and two HR systems are
    called one after another inside the request (the fix moves them to a task queue)."""
    application = Application.objects.create(
        user=request.user,
        candidate=get_object_or_404(Candidate, external_id=request.POST["candidate"]),
        job=get_object_or_404(Job, pk=request.POST["job"]),
        status=Status.objects.get(label="applied"),
        created=timezone.now(),
    )
    payload = {"application": application.pk, "candidate": application.candidate.external_id}
    for channel in outbound.NOTIFICATION_CHANNELS:
        outbound.notify(channel, payload)
    receipt = render_to_string("recruit/receipt.html", {"application": application})
    outbound.render_pdf(receipt)
    for system in outbound.HR_SYSTEMS:
        outbound.push_to_hr(system, payload)
    return JsonResponse({"application": application.pk}, status=201)


@login_required
def pipeline_report(request):
    """Fix 2, before: filters the large table on (user, status, created range) ordered by
    -created, which only single-column indexes serve (the fix adds a composite index). A team
    lead may pass ?recruiter=<user id> for a colleague's pipeline; the default is one's own."""
    status = get_object_or_404(Status, label=request.GET.get("status", "interviewing"))
    start = SEED_EPOCH - timedelta(days=int(request.GET.get("days", 90)))
    recruiter = int(request.GET.get("recruiter", request.user.pk))
    apps = (
        Application.objects.filter(
            user_id=recruiter, status=status, created__gte=start, created__lt=SEED_EPOCH
        )
        .select_related("candidate")
        .order_by("-created")[:100]
    )
    return render(request, "recruit/pipeline.html", {"applications": apps, "status": status})


@login_required
def legacy_export(request):
    """Fix 6: a CSV export of the old pipeline screen, linked from nowhere since the redesign.
    No request reaches it; n1lens lists it as a dead view."""
    rows = Application.objects.filter(user=request.user).values_list("pk", "created")[:1000]
    lines = ["id,created", *(f"{pk},{created.isoformat()}" for pk, created in rows)]
    return HttpResponse("\n".join(lines), content_type="text/csv")


@csrf_exempt
def nightly_rollup(request):
    """Fix 6: recomputes a summary nobody reads any more. Only a nightly cron job calls it (same
    minute, same client, every day); n1lens lists it as a view kept alive by a periodic caller."""
    rows = Application.objects.values("status__label").annotate(n=Count("id"))
    return JsonResponse({"counts": {row["status__label"]: row["n"] for row in rows}})


def flush_traces(request):
    """Exports the spans buffered so far, so a driver knows they have left the app. Untraced
    (excluded in otel.py) and touches no session, so it adds nothing to a recording."""
    otel.force_flush()
    return HttpResponse(status=204)
