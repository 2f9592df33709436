"""A second app's models: a class name shop has too (Catalogue), with the `objects` manager shop's lacks."""

from django.db import models


class Catalogue(models.Model):
    publisher = models.ForeignKey("shop.Publisher", on_delete=models.CASCADE, related_name="press_catalogues")
    year = models.IntegerField()
