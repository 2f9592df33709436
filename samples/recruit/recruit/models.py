"""The recruitment domain of the seed case study: applications with their candidate, job, status,
notes and interviews. Indexes are single-column only (Django's FK indexes plus `created`), as in the
case study before its composite-index fix.
"""

from django.conf import settings
from django.db import models


class Company(models.Model):
    name = models.CharField(max_length=200)


class Job(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE)
    title = models.CharField(max_length=200)


class Candidate(models.Model):
    name = models.CharField(max_length=200)
    # The ATS integration's id for this person: what every webhook call looks up.
    external_id = models.CharField(max_length=64, unique=True)


class Status(models.Model):
    label = models.CharField(max_length=50)


class Application(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    candidate = models.ForeignKey(Candidate, on_delete=models.CASCADE)
    job = models.ForeignKey(Job, on_delete=models.CASCADE)
    status = models.ForeignKey(Status, on_delete=models.PROTECT)
    created = models.DateTimeField(db_index=True)

    @property
    def last_interview(self):
        # The optimised dashboard prefetches interviews newest first into _recent_interviews;
        # without that prefetch this is one query per application (the seed's sixth lookup).
        recent = getattr(self, "_recent_interviews", None)
        if recent is not None:
            return recent[0] if recent else None
        return self.interviews.order_by("-scheduled_at").first()


class Note(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="notes")
    body = models.TextField()


class Interview(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="interviews")
    scheduled_at = models.DateTimeField()
