"""What other apps may follow: the decisions about some customers changed (a consent
record, a suppression or a pause). Sent once the change is committed."""

from django.db import transaction
from django.dispatch import Signal

consent_changed = Signal()  # keyword argument: customer_ids


def consent_changed_announce(*customer_ids: int) -> None:
    ids = frozenset(i for i in customer_ids if i is not None)
    if ids:
        transaction.on_commit(lambda: consent_changed.send(sender="consent", customer_ids=ids))
