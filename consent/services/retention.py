"""Raw events are kept only as long as the retention policies say."""

from datetime import datetime, timedelta

from django.utils import timezone

from consent.models import RetentionPolicy, RetentionRun


def retention_purge(*, now: datetime | None = None) -> RetentionRun:
    """Delete events older than their type's policy allows, and record the run."""
    from tracking.services import events_purge  # tracking imports consent; see data_requests

    now = now or timezone.now()
    run = RetentionRun.objects.create(started_at=now)
    policies = list(RetentionPolicy.objects.all())
    own_policy = [p.event_type for p in policies if p.event_type]
    try:
        for policy in policies:
            cutoff = now - timedelta(days=policy.keep_days)
            if policy.event_type:
                deleted = events_purge(before=cutoff, types=[policy.event_type])
            else:
                deleted = events_purge(before=cutoff, exclude_types=own_policy)
            run.deleted[policy.event_type or "every other type"] = deleted
    except Exception as exc:
        run.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        run.finished_at = timezone.now()
        run.save(update_fields=["deleted", "error", "finished_at"])
    return run
