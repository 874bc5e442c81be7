"""The audit trail (DESIGN.md "Suppression and subscriptions"): one
append-only row per suppression or subscription change, with its source and
its actor (a user) or cause (a message).

Rows are never edited or deleted. The one exception is erase: it rewrites
the personal values of the person's rows (the address becomes its digest, a
reason naming the address is redacted); the database trigger of migration
0004 refuses every other UPDATE and every DELETE on PostgreSQL.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class AuditSubject(models.TextChoices):
    SUPPRESSION = "suppression"
    SUBSCRIPTION = "subscription"


class AuditAction(models.TextChoices):
    ADDED = "added"
    REMOVED = "removed"
    EXPIRED = "expired"
    UNSUBSCRIBED = "unsubscribed"
    RESUBSCRIBED = "resubscribed"
    ERASED = "erased"


class AuditSource(models.TextChoices):
    ADMIN = "admin"
    API = "api"
    PROVIDER = "provider"
    RECIPIENT = "recipient"
    POLICY = "policy"
    IMPORT = "import"


class AppendOnly(RuntimeError):
    """The audit trail is never edited or deleted."""


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnly("The audit trail is append-only.")

    def delete(self):
        raise AppendOnly("The audit trail is append-only.")


class AuditEntry(models.Model):
    at = models.DateTimeField()
    subject = models.CharField(max_length=12, choices=AuditSubject.choices)
    action = models.CharField(max_length=12, choices=AuditAction.choices)
    # Lower-cased email address (a suppression change), or its "sha256:" digest
    # once the person was erased; blank for a subscription change.
    address = models.CharField(max_length=320, blank=True)
    person = models.ForeignKey(
        "messaging.Person",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # audit_person_idx leads with it
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.CharField(max_length=500, blank=True)
    source = models.CharField(max_length=10, choices=AuditSource.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    # The actor's username when the change was made (a user can be renamed
    # or deleted; the trail keeps who it was).
    actor_name = models.CharField(max_length=150, blank=True)
    message = models.ForeignKey(
        "messaging.Message",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )

    objects = AuditQuerySet.as_manager()

    class Meta:
        app_label = "messaging"
        ordering = ["-at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit trail"
        constraints = [
            models.CheckConstraint(
                condition=Q(subject__in=AuditSubject.values), name="audit_subject_valid"
            ),
            models.CheckConstraint(
                condition=Q(action__in=AuditAction.values), name="audit_action_valid"
            ),
            models.CheckConstraint(
                condition=Q(source__in=AuditSource.values), name="audit_source_valid"
            ),
        ]
        indexes = [
            # GET /api/v1/audit/ newest first, and ?since=.
            models.Index(fields=["-at", "-id"], name="audit_at_idx"),
            # An address's trail (admin suppression page, ?address=, erase).
            models.Index(fields=["address", "-at"], name="audit_address_idx"),
            # A person's trail (admin person page, ?person=, erase).
            models.Index(fields=["person", "-at"], name="audit_person_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} {self.action} ({self.source}) at {self.at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnly("The audit trail is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("The audit trail is append-only.")
